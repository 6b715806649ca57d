"""Reading a dataset's source files, strictly: listing and pairing images with masks, decoding, resizing, and
the checksums that record what was read.

Every preparer (:mod:`imlib.data.folder` and ``imlib.data.official``) reads its download through these, so
that a problem is always an error naming the file and nothing is dropped silently.
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import NamedTuple, Union

import numpy as np

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


class DatasetError(ValueError):
    """A problem with the input data; the message names the file and what was expected."""


def image_files(folder: Path) -> dict[str, Path]:
    """Stem -> image file of ``folder`` (other files are not images and are passed over); a stem twice is an
    error, since stems are what pairs an image with its mask."""
    out: dict[str, Path] = {}
    for p in sorted(folder.iterdir()):
        if p.is_file() and p.suffix.lower() in IMAGE_EXTS:
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


def read_array(path: Path, mode: str | None = None) -> np.ndarray:
    """Decode an image fully (truncated files fail here, not later); ``mode`` 'L' or 'RGB' converts."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im.load()
            if mode is not None:
                im = im.convert(mode)
            return np.asarray(im)
    except (UnidentifiedImageError, OSError, SyntaxError) as e:
        raise DatasetError(f"{path}: unreadable or truncated image ({e})") from None


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
