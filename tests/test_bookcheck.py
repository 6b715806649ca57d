"""imlib.bookcheck: images without alt text are named by page; linkcheck results pass offline but not with a
link the server says is missing."""
import json

from imlib import bookcheck


def test_images_without_alt_text_named_by_page(tmp_path):
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "_static").mkdir()
    (tmp_path / "notebooks" / "study_b.html").write_text(
        '<p><img alt="Bar chart of IoU by method" src="../_images/a.png"/>'
        '<img src="../_images/b.png">'  # no alt
        '<img alt="../_images/c.png" src="../_images/c.png" />'  # docutils' default: the file name
        '<img alt="  " src="../_images/d.png"></p>')
    (tmp_path / "index.html").write_text('<img alt="Logo of the book" src="_static/logo.svg">')
    (tmp_path / "_static" / "theme.html").write_text('<img src="x.png">')  # not a page
    missing, count = bookcheck.images_without_alt(tmp_path)
    assert count == 5
    assert missing == [("notebooks/study_b.html", "../_images/b.png"), ("notebooks/study_b.html", "../_images/c.png"),
                       ("notebooks/study_b.html", "../_images/d.png")]
    assert bookcheck.main(["alt-text", str(tmp_path)]) == 1
    (tmp_path / "notebooks" / "study_b.html").unlink()
    assert bookcheck.main(["alt-text", str(tmp_path)]) == 0


def _linkcheck(tmp_path, *entries):
    path = tmp_path / "output.json"
    path.write_text("\n".join(json.dumps({"filename": "book/intro.md", "lineno": 3, **e}) for e in entries))
    return path


def test_links_offline_tolerant(tmp_path, capsys):
    offline = _linkcheck(tmp_path, {"uri": "https://arxiv.org/abs/2401.14387", "status": "broken",
                                    "info": "HTTPSConnectionPool(host='arxiv.org', port=443): Max retries exceeded "
                                            "(Caused by NameResolutionError(...))"},
                         {"uri": "https://example.org", "status": "working", "info": ""},
                         {"uri": "../notebooks/train.ipynb", "status": "unchecked", "info": ""})
    assert bookcheck.main(["links", str(offline)]) == 0
    assert "1 working, 0 broken, 2 unchecked (1 not reachable: no network?)" in capsys.readouterr().out
    missing = _linkcheck(tmp_path, {"uri": "https://example.org/gone", "status": "broken",
                                    "info": "404 Client Error: Not Found for url: https://example.org/gone"})
    assert bookcheck.main(["links", str(missing)]) == 1
    assert "book/intro.md:3: broken link https://example.org/gone" in capsys.readouterr().err


def test_links_missing_output_fails(tmp_path):
    assert bookcheck.main(["links", str(tmp_path / "output.json")]) == 1
