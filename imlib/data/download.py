"""``imlib download``: the public archives of the paper's datasets, resumable and checked.

Only this explicit command (and ``imlib prepare cityscapes --protocol study-a``, for U2PL's split lists)
touches the network; training, the book and the tests never do. A download goes to ``<file>.part`` and is
renamed only once it is complete and its checksum holds, so an interrupted run leaves no file that looks
finished, and the next run resumes the ``.part`` with an HTTP range request. Archives whose publishers give
no checksum get their SHA-256 recorded beside them on the first download (``<file>.sha256``) and checked on
every later run, and each zip is tested entry by entry (CRC) before it is unpacked.

Datasets behind a login or a web page (Cityscapes, SUIM's Google Drive folder) cannot be fetched by a
script: for those the command prints what to download and where to put it, and unpacks the archives once
they are there.
"""
from __future__ import annotations

import os
import shutil
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from imlib.data.sources import sha256_of

CHUNK = 1 << 20


class DownloadError(RuntimeError):
    """A download or unpack that could not finish; the message says what is left on disk."""


@dataclass(frozen=True)
class Archive:
    """One file of a dataset release. ``url`` None: it must be fetched by hand (``page`` says from where)."""
    filename: str
    url: str | None = None
    sha256: str | None = None  # pinned where the publisher's checksum is known
    page: str | None = None


@dataclass(frozen=True)
class Release:
    name: str
    archives: tuple[Archive, ...]
    marker: str  # a folder that ``prepare`` expects inside --src, used to find the unpacked root
    licence: str
    notes: str = ""


ISIC_S3 = "https://isic-challenge-data.s3.amazonaws.com/2018/"
RELEASES = {
    "isic2018": Release(
        "ISIC 2018 Task 1",
        tuple(Archive(f, ISIC_S3 + f) for f in (
            "ISIC2018_Task1-2_Training_Input.zip", "ISIC2018_Task1_Training_GroundTruth.zip",
            "ISIC2018_Task1-2_Validation_Input.zip", "ISIC2018_Task1_Validation_GroundTruth.zip",
            "ISIC2018_Task1-2_Test_Input.zip", "ISIC2018_Task1_Test_GroundTruth.zip")),
        marker="ISIC2018_Task1-2_Training_Input", licence="CC BY-NC 4.0 (ISIC Archive); over 10 GB"),
    "hela": Release(
        "HeLa (the paper authors' release)",
        (Archive("hela.zip", "https://drive.usercontent.google.com/download?id=1JRlgYDcxYdWUhCbLHrTVO8UizLhTnF1W"
                             "&export=download&confirm=t",
                 page="https://drive.google.com/file/d/1JRlgYDcxYdWUhCbLHrTVO8UizLhTnF1W/view"),),
        marker="original_data", licence="ODC-BY; cite arXiv:2401.14387"),
    "suim": Release(
        "SUIM",
        tuple(Archive(f, page="https://drive.google.com/drive/folders/10KMK0rNB43V2g30NcA1RYipL535DuZ-h")
              for f in ("train_val.zip", "TEST.zip")),
        marker="train_val", licence="see github.com/xahidbuffon/SUIM",
        notes="SUIM is shared as a Google Drive folder, which has no stable direct link to its files."),
    "cityscapes": Release(
        "Cityscapes",
        (Archive("leftImg8bit_trainvaltest.zip", page="https://www.cityscapes-dataset.com/file-handling/?packageID=3"),
         Archive("gtFine_trainvaltest.zip", page="https://www.cityscapes-dataset.com/file-handling/?packageID=1")),
        marker="leftImg8bit", licence="Cityscapes terms of use (non-commercial); needs a free account",
        notes="Log in at https://www.cityscapes-dataset.com/login/ first; the links work only with that session."),
}


def check_sha256(path: Path, expected: str, what: str, hint: str = "") -> str:
    """``path``'s SHA-256, which must be ``expected``."""
    digest = sha256_of(path)
    if digest != expected:
        raise DownloadError(f"{path}: SHA-256 {digest} differs from the expected {expected} ({what}){hint}")
    return digest


def checksum_file(path: Path) -> Path:
    """Where the SHA-256 of an archive that downloaded (or unpacked) whole is remembered."""
    return path.with_name(path.name + ".sha256")


def _check(path: Path, expected: str | None, what: str) -> None:
    """Check ``path`` against the pinned checksum, or against the one remembered for it. Nothing is remembered
    here: only an archive that unpacked whole gets its checksum kept (a corrupt file placed by hand, then
    replaced by the right one, is not held against the new one)."""
    sidecar = checksum_file(path)
    if expected is None and sidecar.exists():
        expected = sidecar.read_text().split()[0]
        check_sha256(path, expected, what, f"; if this file is the right one, delete {sidecar} (the checksum "
                                           f"remembered from the archive unpacked before)")
    elif expected is not None:
        check_sha256(path, expected, what, "; delete the file to download it again")


def fetch(url: str, dest: str | Path, sha256: str | None = None, timeout: float = 60.0, quiet: bool = False) -> Path:
    """Download ``url`` to ``dest``: resumable through ``dest.part``, renamed into place only when complete
    and its SHA-256 matches ``sha256`` (when given). An existing ``dest`` is checked, not fetched again."""
    dest = Path(dest)
    if dest.exists():
        _check(dest, sha256, f"from {url}")
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": "imlib-download/1"}
    if have:
        headers["Range"] = f"bytes={have}-"
    kept = (f"; {part} keeps the {have} bytes fetched so far and a rerun resumes from there" if have
            else "; nothing was written")
    try:
        response = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and have:  # the range starts at the end: the .part is already complete
            response = None
        else:
            raise DownloadError(f"{url}: HTTP {e.code} {e.reason}{kept}") from None
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise DownloadError(f"{url}: could not connect ({reason}); are you offline?{kept}") from None
    if response is not None:
        with response:
            if "text/html" in response.headers.get("Content-Type", ""):
                raise DownloadError(f"{url}: the server sent a web page, not the file (a login, quota or "
                                    f"confirmation page){kept}")
            if have and response.status != 206:  # the server ignored the range: start over
                have = 0
            length = response.headers.get("Content-Length")
            total = have + int(length) if length is not None else None
            _stream(response, part, append=bool(have), total=total, label=dest.name, quiet=quiet, url=url)
        if total is not None and part.stat().st_size != total:
            raise DownloadError(f"{url}: got {part.stat().st_size} of {total} bytes; {part} is kept and a "
                                f"rerun resumes it")
    digest = sha256_of(part)
    if sha256 is not None and digest != sha256:
        part.unlink()
        raise DownloadError(f"{url}: SHA-256 {digest} differs from the expected {sha256}; the download was "
                            f"deleted (the file upstream changed, or the transfer was corrupted)")
    os.replace(part, dest)
    checksum_file(dest).write_text(f"{digest}  {dest.name}\n")
    return dest


def _stream(response, part: Path, append: bool, total: int | None, label: str, quiet: bool, url: str) -> None:
    from tqdm.auto import tqdm

    done = part.stat().st_size if append else 0
    with tqdm(total=total, initial=done, unit="B", unit_scale=True, desc=label, disable=quiet) as bar:
        f = None
        try:
            while True:
                block = response.read(CHUNK)
                if not block:
                    break
                if f is None:  # the file appears only once bytes arrive
                    f = open(part, "ab" if append else "wb")
                f.write(block)
                bar.update(len(block))
        except (OSError, urllib.error.URLError) as e:
            raise DownloadError(f"{url}: the transfer broke off ({e}); {part} is kept and a rerun resumes "
                                f"it") from None
        finally:
            if f is not None:
                f.close()


def unpack(archive: Path, into: Path) -> None:
    """Test every entry of a zip (CRC), then extract it next to ``into`` and move it in, so ``into`` never
    holds a half-extracted archive. A second call finds the marker and does nothing."""
    done = into / f".{archive.name}.unpacked"
    if done.exists():
        return
    try:
        with zipfile.ZipFile(archive) as z:
            bad = z.testzip()
            if bad is not None:
                raise DownloadError(f"{archive}: entry {bad} fails its CRC check; delete the archive and download "
                                    f"it again")
            tmp = into / f".{archive.name}.tmp"
            if tmp.exists():
                shutil.rmtree(tmp)
            names = [n for n in z.namelist() if not n.startswith("__MACOSX/")]
            tops = {n.split("/")[0] for n in names}
            one_folder = len(tops) == 1 and all("/" in n for n in names)
            # an archive of loose files goes into a folder named after it (ISIC_x.zip -> ISIC_x/)
            z.extractall(tmp if one_folder else tmp / Path(archive.name).stem, members=names)
    except zipfile.BadZipFile as e:
        raise DownloadError(f"{archive}: not a valid zip archive ({e}); delete it and download it again") from None
    for entry in sorted(tmp.iterdir()):
        target = into / entry.name
        if target.exists():
            shutil.rmtree(target) if target.is_dir() else target.unlink()
        os.replace(entry, target)
    tmp.rmdir()
    done.write_text("")


def find_root(folder: Path, marker: str, depth: int = 3) -> Path | None:
    """The folder under ``folder`` (itself included) that holds ``marker``: what ``prepare --src`` needs."""
    if (folder / marker).exists():
        return folder
    if depth == 0 or not folder.is_dir():
        return None
    for sub in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        found = find_root(sub, marker, depth - 1)
        if found is not None:
            return found
    return None


def instructions(dataset: str, dest: Path) -> str:
    """What a person has to fetch by hand, and where to put it."""
    release = RELEASES[dataset]
    lines = [f"{release.name} has no direct public download. {release.notes}".rstrip(), "Download:"]
    for a in release.archives:
        lines.append(f"  {a.filename}  from {a.page}")
    lines += [f"and put the archives in {dest}/ , then run `imlib download {dataset} --dst {dest}` again to check "
              f"and unpack them.", f"Licence: {release.licence}."]
    return "\n".join(lines)


def download(dataset: str, dest: str | Path, quiet: bool = False) -> Path:
    """Fetch (where possible), check and unpack a release into ``dest``; the folder to give ``prepare --src``.

    Raises :class:`DownloadError` with the instructions when an archive must be fetched by hand and is
    not there yet."""
    if dataset not in RELEASES:
        raise DownloadError(f"unknown dataset {dataset!r}; one of {', '.join(RELEASES)}")
    release, dest = RELEASES[dataset], Path(dest)
    missing = [a for a in release.archives if a.url is None and not (dest / a.filename).exists()]
    if missing:
        raise DownloadError(instructions(dataset, dest))
    for a in release.archives:
        path = dest / a.filename
        if a.url is not None:
            try:
                fetch(a.url, path, a.sha256, quiet=quiet)
            except DownloadError as e:
                if a.page is None:
                    raise
                raise DownloadError(f"{e}\nIf this keeps failing, download {a.filename} by hand from {a.page} "
                                    f"into {dest}/ and run the command again.") from None
        else:
            _check(path, a.sha256, "placed by hand")
        try:
            unpack(path, dest)
        except DownloadError:
            checksum_file(path).unlink(missing_ok=True)  # what was remembered of a broken archive is worthless
            raise
        if not checksum_file(path).exists():
            checksum_file(path).write_text(f"{sha256_of(path)}  {path.name}\n")
    root = find_root(dest, release.marker)
    if root is None:
        raise DownloadError(f"{dest}: unpacked, but no {release.marker}/ was found in it; the release's layout "
                            f"has changed, see the book's Datasets page")
    return root
