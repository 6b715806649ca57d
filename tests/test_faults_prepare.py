"""``imlib prepare`` faults of issue 11: it must never delete what it did not make (1), a committed split must
record what made it (3), and split lists must survive file names with spaces (7). Driven through the CLI, as
a user would, with tiny fixtures in the folder and Cityscapes layouts."""
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from test_cityscapes import make_cityscapes, make_u2pl_lists

from imlib.cli import main
from imlib.data.official import cityscapes
from imlib.data.sources import DatasetError

PREPARED_MARKER = ".imlib-prepared"  # the file that marks a folder imlib prepared (and may replace)


def _save(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def make_folder(root: Path, n: int = 12, stem: str = "img{:02d}") -> Path:
    """A tiny binary dataset in the folder layout (images/ and masks/), stems from ``stem``."""
    rng = np.random.default_rng(1)
    for i in range(n):
        img = rng.integers(0, 60, (24, 24, 3), dtype=np.uint8)
        fg = np.zeros((24, 24), bool)
        fg[i % 8: i % 8 + 8, 4:12] = True
        img[fg] = 200
        _save(root / "images" / f"{stem.format(i)}.png", img)
        _save(root / "masks" / f"{stem.format(i)}.png", (fg * 255).astype(np.uint8))
    return root


def prepare(tmp_path: Path, *extra: str, src: Path | None = None, name: str = "mine") -> int:
    """``imlib prepare folder`` on ``src`` (default tmp_path/src) into tmp_path/prepared, lists in tmp_path/splits."""
    return main(["prepare", "folder", "--src", str(src or tmp_path / "src"), "--name", name, "--size", "16",
                 "--prepared-dir", str(tmp_path / "prepared"), "--splits-dir", str(tmp_path / "splits"), *extra])


def error_line(capsys) -> str:
    """The CLI's error: exactly one line on stderr, starting with ``imlib: error:``."""
    err = capsys.readouterr().err.strip()
    assert err.startswith("imlib: error: ") and "\n" not in err, err
    return err


def arrays(folder: Path) -> dict[str, np.ndarray]:
    out = {}
    for npz in sorted(folder.glob("*.npz")):
        with np.load(npz) as z:
            out.update({f"{npz.stem}/{k}": z[k] for k in z.files})
    return out


# --- 1: never delete or overwrite what the project did not create ----------------------------------------

def test_dst_an_existing_user_folder_is_refused_and_kept(tmp_path, capsys):
    make_folder(tmp_path / "src")
    mine = tmp_path / "results"
    mine.mkdir()
    (mine / "notes.txt").write_text("my notes")
    assert prepare(tmp_path, "--dst", str(mine)) == 2
    err = error_line(capsys)
    assert str(mine) in err and PREPARED_MARKER in err
    assert (mine / "notes.txt").read_text() == "my notes"


def test_dst_equal_to_src_is_refused_and_the_images_kept(tmp_path, capsys):
    src = make_folder(tmp_path / "src")
    assert prepare(tmp_path, "--dst", str(src)) == 2
    assert str(src) in error_line(capsys)
    assert len(list((src / "images").iterdir())) == 12 and len(list((src / "masks").iterdir())) == 12


def test_dst_holding_src_is_refused_even_when_marked(tmp_path, capsys):
    src = make_folder(tmp_path / "data" / "src")
    (tmp_path / "data" / PREPARED_MARKER).write_text("")
    assert prepare(tmp_path, "--dst", str(tmp_path / "data"), src=src) == 2
    assert "holds the source" in error_line(capsys)
    assert len(list((src / "images").iterdir())) == 12


@pytest.mark.parametrize("name", ["..", ".", "a/b", "../mine"])
def test_name_that_is_not_a_plain_name_is_refused(name, tmp_path, capsys):
    make_folder(tmp_path / "src")
    (tmp_path / "prepared").mkdir()
    (tmp_path / "keep.txt").write_text("mine")
    assert prepare(tmp_path, name=name) == 2
    assert repr(name) in error_line(capsys)
    assert (tmp_path / "keep.txt").read_text() == "mine" and (tmp_path / "src" / "images").is_dir()
    assert not (tmp_path / "splits").exists()


def test_dst_a_file_or_a_symlink_is_refused(tmp_path, capsys):
    make_folder(tmp_path / "src")
    (tmp_path / "a_file").write_text("mine")
    assert prepare(tmp_path, "--dst", str(tmp_path / "a_file")) == 2
    assert "a_file" in error_line(capsys) and (tmp_path / "a_file").read_text() == "mine"
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / PREPARED_MARKER).write_text("")
    (tmp_path / "link").symlink_to(tmp_path / "elsewhere")
    assert prepare(tmp_path, "--dst", str(tmp_path / "link")) == 2
    assert "symbolic link" in error_line(capsys) and (tmp_path / "elsewhere" / PREPARED_MARKER).exists()


def test_a_prepared_folder_is_replaced_and_an_empty_one_filled(tmp_path, capsys):
    make_folder(tmp_path / "src")
    (tmp_path / "prepared" / "mine").mkdir(parents=True)  # empty: nothing to lose
    assert prepare(tmp_path) == 0
    dst = tmp_path / "prepared" / "mine"
    assert (dst / PREPARED_MARKER).is_file() and (dst / "manifest.json").is_file()
    (dst / PREPARED_MARKER).unlink()  # prepared before the marker existed: its manifest says so
    assert prepare(tmp_path) == 0 and (dst / PREPARED_MARKER).is_file()


def test_the_last_check_before_replacing_leaves_nothing_behind(tmp_path):
    """A folder that appeared at ``dst`` while preparing is refused too, and the finished temporary removed."""
    from imlib.data.prepare import move_into_place

    (tmp_path / "dst").mkdir()
    (tmp_path / "dst" / "notes.txt").write_text("mine")
    (tmp_path / "dst.tmp1").mkdir()
    with pytest.raises(DatasetError, match="dst: exists and is not a folder imlib prepared"):
        move_into_place(tmp_path / "dst.tmp1", tmp_path / "dst", tmp_path / "src")
    assert (tmp_path / "dst" / "notes.txt").read_text() == "mine" and not (tmp_path / "dst.tmp1").exists()


def test_study_a_refuses_a_user_folder(tmp_path):
    src = make_cityscapes(tmp_path / "cs")
    sums = make_u2pl_lists(tmp_path / "u2pl", src)
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "notes.txt").write_text("mine")
    with pytest.raises(DatasetError, match=f"{tmp_path / 'p'}: .*{PREPARED_MARKER}"):
        cityscapes.prepare_study_a(src, tmp_path / "p", cache=tmp_path / "c", u2pl_splits=tmp_path / "u2pl",
                                   checksums=sums)
    assert (tmp_path / "p" / "notes.txt").read_text() == "mine"
    with pytest.raises(DatasetError, match="plain name"):
        cityscapes.prepare_study_a(src, tmp_path / "q", u2pl_splits=tmp_path / "u2pl", checksums=sums, name="..")
    dst = cityscapes.prepare_study_a(src, tmp_path / "q", u2pl_splits=tmp_path / "u2pl", checksums=sums)
    assert (dst / PREPARED_MARKER).is_file()
    assert cityscapes.prepare_study_a(src, dst, u2pl_splits=tmp_path / "u2pl", checksums=sums) == dst  # again


# --- 3: a committed split records what made it -----------------------------------------------------------

@pytest.mark.parametrize("option, old, new", [("--seed", "42", "7"), ("--labeled-fraction", "0.1", "0.5"),
                                               ("--test-fraction", "0.2", "0.3")])
def test_new_split_values_against_committed_lists_are_an_error(option, old, new, tmp_path, capsys):
    make_folder(tmp_path / "src")
    assert prepare(tmp_path) == 0
    capsys.readouterr()
    lists = tmp_path / "splits" / "mine"
    made = json.loads((lists / "split.json").read_text())
    assert made["seed"] == 42 and made["labeled_fraction"] == 0.1 and made["val_fraction"] == 0.1
    before = {p.name: p.read_text() for p in lists.iterdir()}
    assert prepare(tmp_path, option, new, "--dst", str(tmp_path / "other")) == 2
    err = error_line(capsys)
    key = option[2:].replace("-", "_")
    assert str(lists) in err and f"{key} {old}" in err and f"{key} {new}" in err and "delete" in err
    assert {p.name: p.read_text() for p in lists.iterdir()} == before and not (tmp_path / "other").exists()


def test_lists_without_split_json_are_accepted_when_the_files_match(tmp_path):
    """Lists committed before split.json existed (data/splits/cityscapes) still work, as before."""
    make_folder(tmp_path / "src")
    assert prepare(tmp_path) == 0
    (tmp_path / "splits" / "mine" / "split.json").unlink()
    assert prepare(tmp_path, "--seed", "7") == 0
    assert not (tmp_path / "splits" / "mine" / "split.json").exists()


# --- 7: file names with spaces ---------------------------------------------------------------------------

def test_stems_with_spaces_survive_a_second_prepare(tmp_path):
    make_folder(tmp_path / "src", stem="my image {}")
    assert prepare(tmp_path) == 0
    listed = (tmp_path / "splits" / "mine" / "test.txt").read_text().splitlines()
    assert listed and all(s.startswith("my image ") for s in listed)
    assert prepare(tmp_path) == 0
    with np.load(tmp_path / "prepared" / "mine" / "test.npz") as z:
        assert list(z["stems"]) == listed


def test_u2pl_lines_with_a_label_path_and_spaces(tmp_path):
    """U2PL's lists may carry the label path after the image ('<image> gtFine/...'); a name may hold spaces."""
    src = make_cityscapes(tmp_path / "cs")
    sums = make_u2pl_lists(tmp_path / "u2pl", src)
    rel = "2/labeled.txt"
    lines = (tmp_path / "u2pl" / rel).read_text().splitlines()
    (tmp_path / "u2pl" / rel).write_text("".join(f"{e} {e.replace('leftImg8bit', 'gtFine')}\n" for e in lines))
    sums[rel] = hashlib.sha256((tmp_path / "u2pl" / rel).read_bytes()).hexdigest()
    dst = cityscapes.prepare_study_a(src, tmp_path / "p", u2pl_splits=tmp_path / "u2pl", checksums=sums)
    pairs = cityscapes.study_a_pairs(dst, "2", "labeled")
    assert [img.relative_to(dst).as_posix() for img, _ in pairs] == lines
    assert all(img.exists() and lab.exists() for img, lab in pairs)
    (dst / "splits" / "val.txt").write_text("leftImg8bit/val/new york/new york_000001_000019_leftImg8bit.png\n")
    [(img, lab)] = cityscapes.study_a_pairs(dst, "2", "val")
    assert img == dst / "leftImg8bit" / "val" / "new york" / "new york_000001_000019_leftImg8bit.png"
    assert lab == dst / "gtFine" / "val" / "new york" / "new york_000001_000019_gtFine_labelTrainIds.png"


# --- regression guards: behaviour that already worked -----------------------------------------------------

def test_preparing_the_same_data_twice_gives_the_same_arrays(tmp_path):
    make_folder(tmp_path / "src")
    assert prepare(tmp_path) == 0
    first = arrays(tmp_path / "prepared" / "mine")
    manifest = json.loads((tmp_path / "prepared" / "mine" / "manifest.json").read_text())
    assert prepare(tmp_path) == 0
    second = arrays(tmp_path / "prepared" / "mine")
    assert first.keys() == second.keys() and all(np.array_equal(first[k], second[k]) for k in first)
    assert json.loads((tmp_path / "prepared" / "mine" / "manifest.json").read_text()) == manifest


def test_a_missing_src_is_a_one_line_error_naming_it(tmp_path, capsys):
    assert prepare(tmp_path, src=tmp_path / "nowhere") == 2
    assert str(tmp_path / "nowhere") in error_line(capsys)
    assert not (tmp_path / "prepared").exists() and not (tmp_path / "splits").exists()
