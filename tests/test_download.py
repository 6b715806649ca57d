"""``imlib download``: resumable, checksummed, atomic; offline is a clear error. A local HTTP server stands in
for the publishers (no test touches the network)."""
import hashlib
import http.server
import io
import threading
import zipfile
from pathlib import Path

import pytest

from imlib.cli import main
from imlib.data import download as dl

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB


class Handler(http.server.BaseHTTPRequestHandler):
    """Serves PAYLOAD at /file with Range support; /cut sends half and hangs up; /page is an HTML page."""
    ignore_range = False

    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.path == "/page":
            body = b"<html>sign in</html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        start = 0
        rng = self.headers.get("Range")
        if rng and not self.ignore_range:
            start = int(rng.split("=")[1].split("-")[0])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(PAYLOAD) - 1}/{len(PAYLOAD)}")
        else:
            self.send_response(200)
        self.send_header("Content-Type", "application/zip")
        self.send_header("Content-Length", str(len(PAYLOAD) - start))
        self.end_headers()
        if self.path == "/cut":
            self.wfile.write(PAYLOAD[start:start + (len(PAYLOAD) - start) // 2])
            self.wfile.flush()
            self.connection.shutdown(2)
            return
        self.wfile.write(PAYLOAD[start:])


@pytest.fixture
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    Handler.ignore_range = False


SHA = hashlib.sha256(PAYLOAD).hexdigest()


def test_fetch_checks_the_checksum_and_records_it(server, tmp_path):
    out = dl.fetch(f"{server}/file", tmp_path / "a.zip", SHA, quiet=True)
    assert out.read_bytes() == PAYLOAD and (tmp_path / "a.zip.sha256").read_text().startswith(SHA)
    assert not (tmp_path / "a.zip.part").exists()
    out.write_bytes(PAYLOAD[:-1] + b"x")  # a file on disk that changed is caught on the next run
    with pytest.raises(dl.DownloadError, match="differs from the expected"):
        dl.fetch(f"{server}/file", tmp_path / "a.zip", quiet=True)


def test_a_wrong_checksum_deletes_the_download(server, tmp_path):
    with pytest.raises(dl.DownloadError, match="differs from the expected 0000; the download was deleted"):
        dl.fetch(f"{server}/file", tmp_path / "a.zip", "0000", quiet=True)
    assert list(tmp_path.iterdir()) == []


def test_a_broken_transfer_resumes_with_a_range_request(server, tmp_path):
    with pytest.raises(dl.DownloadError, match="a.zip.part is kept and a rerun resumes"):
        dl.fetch(f"{server}/cut", tmp_path / "a.zip", SHA, quiet=True)
    assert not (tmp_path / "a.zip").exists()
    assert (tmp_path / "a.zip.part").stat().st_size == len(PAYLOAD) // 2
    out = dl.fetch(f"{server}/file", tmp_path / "a.zip", SHA, quiet=True)  # 206 from the middle
    assert out.read_bytes() == PAYLOAD


def test_a_server_that_ignores_the_range_starts_over(server, tmp_path):
    (tmp_path / "a.zip.part").write_bytes(b"junk" * 10)
    Handler.ignore_range = True
    assert dl.fetch(f"{server}/file", tmp_path / "a.zip", SHA, quiet=True).read_bytes() == PAYLOAD


def test_offline_is_a_clear_error_and_writes_nothing(tmp_path, offline_url):
    with pytest.raises(dl.DownloadError, match="could not connect .*are you offline.*nothing was written"):
        dl.fetch(offline_url + "file", tmp_path / "sub" / "a.zip", quiet=True)
    assert not any(p.is_file() for p in tmp_path.rglob("*"))


def test_a_web_page_instead_of_the_file_is_an_error(server, tmp_path):
    with pytest.raises(dl.DownloadError, match="sent a web page"):
        dl.fetch(f"{server}/page", tmp_path / "a.zip", quiet=True)
    assert not (tmp_path / "a.zip").exists()


def _zip(path: Path, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    return path


def test_unpack_is_atomic_and_idempotent(tmp_path):
    archive = _zip(tmp_path / "x.zip", {"top/a.txt": b"a", "top/sub/b.txt": b"b"})
    dl.unpack(archive, tmp_path)
    assert (tmp_path / "top" / "sub" / "b.txt").read_bytes() == b"b"
    (tmp_path / "top" / "a.txt").write_bytes(b"edited")
    dl.unpack(archive, tmp_path)  # marked done: not extracted again
    assert (tmp_path / "top" / "a.txt").read_bytes() == b"edited"


def test_an_archive_of_loose_files_gets_a_folder_of_its_name(tmp_path):
    dl.unpack(_zip(tmp_path / "ISIC_Input.zip", {"a.jpg": b"a", "b.jpg": b"b"}), tmp_path / "raw")
    assert sorted(p.name for p in (tmp_path / "raw" / "ISIC_Input").iterdir()) == ["a.jpg", "b.jpg"]


def test_a_corrupt_zip_is_named(tmp_path):
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w", zipfile.ZIP_STORED) as z:
        z.writestr("top/a.txt", b"hello world" * 100)
    raw = bytearray(data.getvalue())
    raw[raw.index(b"hello")] ^= 0xFF  # flip a byte of the stored entry: its CRC no longer holds
    (tmp_path / "bad.zip").write_bytes(bytes(raw))
    with pytest.raises(dl.DownloadError, match="bad.zip: entry top/a.txt fails its CRC check"):
        dl.unpack(tmp_path / "bad.zip", tmp_path / "out")
    (tmp_path / "junk.zip").write_bytes(b"not a zip")
    with pytest.raises(dl.DownloadError, match="junk.zip: not a valid zip archive"):
        dl.unpack(tmp_path / "junk.zip", tmp_path / "out")
    assert not (tmp_path / "out" / "top").exists()


def test_download_fetches_unpacks_and_finds_the_root(server, tmp_path, monkeypatch):
    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, "w") as z:
        z.writestr("release/original_data/train_full/brightfield/a.png", b"x")
    monkeypatch.setattr(Handler, "do_GET", _serve(zipped.getvalue()))
    monkeypatch.setitem(dl.RELEASES, "hela", dl.Release(
        "HeLa", (dl.Archive("hela.zip", f"{server}/hela.zip", hashlib.sha256(zipped.getvalue()).hexdigest()),),
        marker="original_data", licence="ODC-BY"))
    root = dl.download("hela", tmp_path / "raw", quiet=True)
    assert root == tmp_path / "raw" / "release" and (root / "original_data").is_dir()
    assert dl.download("hela", tmp_path / "raw", quiet=True) == root  # a rerun checks, fetches nothing


def _serve(body: bytes):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "application/zip")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    return do_GET


def test_cityscapes_says_what_to_fetch_and_where(tmp_path, capsys):
    assert main(["download", "cityscapes", "--dst", str(tmp_path / "cs")]) == 1
    out = capsys.readouterr().out
    assert "leftImg8bit_trainvaltest.zip" in out and "gtFine_trainvaltest.zip" in out
    assert f"put the archives in {tmp_path / 'cs'}/" in out and "cityscapes-dataset.com" in out
    assert not (tmp_path / "cs").exists()


def test_archives_placed_by_hand_are_unpacked(tmp_path):
    dst = tmp_path / "suim"
    dst.mkdir()
    _zip(dst / "train_val.zip", {"train_val/images/a.jpg": b"x"})
    with pytest.raises(dl.DownloadError, match="TEST.zip  from https://drive.google.com"):
        dl.download("suim", dst, quiet=True)
    _zip(dst / "TEST.zip", {"TEST/images/b.jpg": b"y"})
    assert dl.download("suim", dst, quiet=True) == dst and (dst / "TEST" / "images" / "b.jpg").exists()
