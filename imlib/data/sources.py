"""Reading a dataset's source files, strictly: listing and pairing images with masks, decoding, resizing, and
the checksums that record what was read.

Every preparer (:mod:`imlib.data.folder` and ``imlib.data.official``) reads its download through these, so
that a problem is always an error naming the file and nothing is dropped silently.
"""
from __future__ import annotations

import hashlib
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple, Union

import numpy as np

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


class DatasetError(ValueError):
    """A problem with the input data; the message names the file and what was expected."""


def is_image_file(p: Path) -> bool:
    """An image by its extension; hidden files (names starting with '.') never are: macOS writes an AppleDouble
    resource fork ``._<name>`` beside every file it copies to a foreign disk, and ``.DS_Store`` into folders."""
    return p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_EXTS


def image_files(folder: Path) -> dict[str, Path]:
    """Stem -> image file of ``folder`` (other files, hidden ones included, are not images and are passed over;
    see ``is_image_file``); a stem twice is an error, since stems are what pairs an image with its mask."""
    out: dict[str, Path] = {}
    for p in sorted(folder.iterdir()):
        if is_image_file(p):
            if p.stem in out:
                raise DatasetError(f"{folder}: two files share the stem {p.stem!r} ({out[p.stem].name}, {p.name})")
            out[p.stem] = p
    return out


def _listed(stems: list[str]) -> str:
    return ", ".join(stems[:10]) + (f" (+{len(stems) - 10} more)" if len(stems) > 10 else "")


def check_pairs(images: dict, masks: dict, img_dir: Path, mask_dir: Path) -> None:
    """Every image has a mask and every mask an image; else one error listing the unpaired stems of each side."""
    no_mask = sorted(set(images) - set(masks))
    no_image = sorted(set(masks) - set(images))
    if no_mask or no_image:
        parts = []
        if no_mask:
            parts.append(f"images without a mask in {mask_dir}: {_listed(no_mask)}")
        if no_image:
            parts.append(f"masks without an image in {img_dir}: {_listed(no_image)}")
        raise DatasetError("; ".join(parts))


MaskFiles = Union[Path, dict[str, Path]]  # one mask, or one per label channel


class Pairs(NamedTuple):
    """Stem -> image file and stem -> its mask file(s), as found (and checked) in one folder of a download."""
    images: dict[str, Path]
    masks: dict[str, MaskFiles]

    def files(self) -> list[Path]:
        """Every file of the pairs: the images, then the masks."""
        return list(self.images.values()) + [q for m in self.masks.values()
                                             for q in (m.values() if isinstance(m, dict) else [m])]


def _too_large(path: Path) -> DatasetError:
    """The error for an image over PIL's decompression-bomb limit, with its size (read with the limit lifted
    for the header only, which is cheap: nothing is decoded)."""
    from PIL import Image

    limit = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None
    try:
        with Image.open(path) as im:
            w, h = im.size
    finally:
        Image.MAX_IMAGE_PIXELS = limit
    return DatasetError(f"{path}: {w}x{h} image ({w * h} pixels) is too large for PIL, which refuses more than "
                        f"twice its limit Image.MAX_IMAGE_PIXELS = {limit} as a possible decompression bomb; "
                        f"downscale it (and its mask) to at most {limit} pixels and prepare again")


@contextmanager
def open_image(path: Path):
    """``PIL.Image.open`` whose every failure (unreadable, truncated, too large) is a one-line DatasetError
    naming the file."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            yield im
    except Image.DecompressionBombError:
        raise _too_large(path) from None
    except (UnidentifiedImageError, OSError, SyntaxError) as e:
        raise DatasetError(f"{path}: unreadable or truncated image ({e})") from None


def read_array(path: Path, mode: str | None = None) -> np.ndarray:
    """Decode an image fully (truncated files fail here, not later); ``mode`` 'L' or 'RGB' converts."""
    with open_image(path) as im:
        im.load()
        return np.asarray(im if mode is None else im.convert(mode))


LOSSY_EXTS = (".jpg", ".jpeg")
GREY_MODES = ("1", "L", "LA", "I", "I;16", "F")


def refuse_lossy(path: Path, fmt: str | None = None) -> None:
    """A mask saved as JPEG (by its name, or ``fmt`` as found when opened) is an error: lossy compression
    changes label values (a 0/255 mask gains dozens of grey levels around every edge)."""
    if path.suffix.lower() in LOSSY_EXTS or fmt in ("JPEG", "MPO"):
        raise DatasetError(f"{path}: a mask saved as JPEG; lossy compression changes label values (a 0/255 mask "
                           f"gains dozens of grey levels at every edge): save masks as PNG")


def _colours(im) -> list[tuple[int, ...]]:
    """The colours of an image that are not grey (R, G and B differ), as (R, G, B) tuples, at most five."""
    rgb = np.asarray(im.convert("RGB")).reshape(-1, 3)
    colours = np.unique(rgb[(rgb[:, 0] != rgb[:, 1]) | (rgb[:, 1] != rgb[:, 2])], axis=0)
    return [tuple(int(v) for v in c) for c in colours[:5]]


def read_ids(path: Path) -> np.ndarray:
    """A label image's values as integers at their bit depth (8-, 16- or 32-bit grey), never clipped: class
    ids or instance ids. A JPEG (``refuse_lossy``) or a colour image is an error: converting colours to grey
    would silently make new, meaningless values."""
    refuse_lossy(path)
    with open_image(path) as im:
        im.load()
        refuse_lossy(path, im.format)
        colours = [] if im.mode in GREY_MODES else _colours(im)
        if colours:
            raise DatasetError(f"{path}: a colour mask (mode {im.mode}, colours such as "
                               f"{', '.join(map(str, colours[:3]))}); a mask holds one value per pixel: convert "
                               f"each colour to a class id (0, 1, 2, ...) and name them in classes.txt")
        if im.mode.startswith("I"):  # 16- or 32-bit ids: read as they are, never clipped to 8 bits
            return np.asarray(im).astype(np.int64)
        return np.asarray(im.convert("L")).astype(np.int64)


def read_mask(path: Path) -> np.ndarray:
    """A mask's values, one per pixel, as uint8 (:func:`read_ids`): a value above 255 (a 16-bit class id
    that does not fit) is an error naming the file and the values, never clipped."""
    values = read_ids(path)
    big = sorted(set(np.unique(values[(values < 0) | (values > 255)]).tolist()))
    if big:
        raise DatasetError(f"{path}: a 16-bit mask with values that do not fit the 8-bit labels (class "
                           f"ids 0..254, 255 = ignore): {big[:10]}; renumber the classes to 0..254")
    return values.astype(np.uint8)


def check_same_size(mask: np.ndarray, image: np.ndarray, mask_path: Path, image_path: Path) -> None:
    if mask.shape[:2] != image.shape[:2]:
        raise DatasetError(f"{mask_path}: mask is {mask.shape[1]}x{mask.shape[0]}, its image {image_path} is "
                           f"{image.shape[1]}x{image.shape[0]}")


def binary_mask(mask: np.ndarray, path: Path) -> np.ndarray:
    """A 0/255 (or 0/1) mask as 0/1; any other value is an error listing the values."""
    values = np.unique(mask)
    if set(values.tolist()) <= {0, 255}:
        return (mask == 255).astype(np.uint8)
    if set(values.tolist()) <= {0, 1}:
        return mask.astype(np.uint8)
    bad = sorted(set(values.tolist()) - {0, 1, 255})
    raise DatasetError(f"{path}: a binary mask must hold 0/255 (or 0/1); found other values {bad[:20]}")


def resize(a: np.ndarray, size: int | tuple[int, int], nearest: bool) -> np.ndarray:
    """Resize to ``size`` x ``size``, or to (width, height); bilinear, or nearest for labels."""
    from PIL import Image

    im = Image.fromarray(a)
    wh = (size, size) if isinstance(size, int) else tuple(size)
    return np.asarray(im.resize(wh, Image.NEAREST if nearest else Image.BILINEAR))


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def file_manifest(root: Path, paths: list[Path]) -> dict[str, dict]:
    """Size and SHA-256 of every source file, by path relative to ``root``."""
    return {str(p.relative_to(root)): {"sha256": sha256_of(p), "bytes": p.stat().st_size} for p in sorted(paths)}
