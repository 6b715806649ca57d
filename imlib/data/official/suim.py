"""SUIM (underwater scenes, 8 classes) from the authors' release (paper-notes §8).

Expected under ``src``::

    train_val/images/*.jpg   train_val/masks/*.bmp      (1525 pairs)
    TEST/images/*.jpg        TEST/masks/*.bmp           (110 pairs)

As the paper: every channel of the colour mask thresholded at 128 and the colour code mapped to the class
ids 1..8 (class 0 stays the IM class): id = 1 + 4 R + 2 G + B (BW 000, HD 001, PF 010, WR 011, RO 100,
RI 101, FV 110, SR 111); train_val split 90/10 into train/val and 10 % of train labeled; two random
square crops per image (side uniform in [256, min(512, longer side)), clamped to the shorter side), resized
to 256 (bilinear image, nearest mask), for every split. Differences: the crops are seeded per image
(the original's were unseeded, so not reproducible), the split is made per image so both crops of an image
share it, and the draws are this project's (the lists are committed).
"""
from __future__ import annotations

import hashlib
import random
from pathlib import Path

import numpy as np

from imlib.data.folder import (FORMAT_VERSION, DatasetError, _check_pairs, _files, _resize, check_same_size,
                               file_manifest, read_array, seeded_order, share, verify_or_write_split,
                               write_prepared)

CLASS_NAMES = ("IM", "waterbody", "human divers", "plants", "wrecks", "robots", "reefs", "fish", "sea-floor")


def decode_colour_mask(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) colour mask -> (H, W) class ids 1..8 (each channel thresholded at 128)."""
    bits = (rgb[..., :3] >= 128).astype(np.uint8)
    return (1 + 4 * bits[..., 0] + 2 * bits[..., 1] + bits[..., 2]).astype(np.uint8)


def _pairs(src: Path, part: str) -> tuple[dict[str, Path], dict[str, Path]]:
    img_dir, mask_dir = src / part / "images", src / part / "masks"
    for d in (img_dir, mask_dir):
        if not d.is_dir():
            raise DatasetError(f"{d}: missing folder (expected SUIM's train_val/ and TEST/ with images/ and masks/)")
    images, masks = _files(img_dir), _files(mask_dir)
    _check_pairs(images, masks, img_dir, mask_dir)
    return images, masks


def square_crops(h: int, w: int, n: int, rng: random.Random, lo: int = 256, hi: int = 512) -> list[tuple[int, int, int]]:
    """``n`` (top, left, side) squares inside an h x w image."""
    out = []
    for _ in range(n):
        top_side = min(hi, max(h, w))
        side = int(rng.uniform(lo, top_side)) if top_side > lo else lo
        side = max(1, min(side, h, w))
        out.append((rng.randint(0, h - side), rng.randint(0, w - side), side))
    return out


def _encode(images, masks, stems, size, crops, seed):
    xs, ys, names = [], [], []
    for s in stems:
        img = read_array(images[s], "RGB")
        rgb = read_array(masks[s], "RGB")
        check_same_size(rgb, img, masks[s], images[s])
        lab = decode_colour_mask(rgb)
        rng = random.Random(int(hashlib.sha256(f"{seed}/{s}".encode()).hexdigest()[:12], 16))
        for k, (t, l, side) in enumerate(square_crops(*img.shape[:2], crops, rng)):
            xs.append(_resize(img[t:t + side, l:l + side], size, nearest=False).transpose(2, 0, 1))
            ys.append(_resize(lab[t:t + side, l:l + side], size, nearest=True)[None])
            names.append(f"{s}#{k}")
    return np.stack(xs).astype(np.uint8), np.stack(ys).astype(np.uint8), names


def prepare(src: str | Path, dst: str | Path, splits_dir: str | Path = "data/splits", size: int = 256,
            labeled_fraction: float = 0.1, val_fraction: float = 0.1, seed: int = 42, crops: int = 2,
            name: str = "suim") -> Path:
    src = Path(src)
    train_val, test = _pairs(src, "train_val"), _pairs(src, "TEST")
    order = seeded_order(train_val[0], seed)
    n_val = share(val_fraction, len(order))
    val, train = order[:n_val], order[n_val:]
    n_lab = share(labeled_fraction, len(train))
    split = {"labeled": sorted(train[:n_lab]), "unlabeled": sorted(train[n_lab:]), "val": sorted(val),
             "test": sorted(test[0])}
    empty = [k for k, v in split.items() if not v]
    if empty:
        raise DatasetError(f"{src}: too few images for the split: empty {', '.join(empty)}")
    split = verify_or_write_split(Path(splits_dir) / name, split)
    parts = {k: _encode(*(test if k == "test" else train_val), split[k], size, crops, seed) for k in split}
    files = [p for imgs, msks in (train_val, test) for p in list(imgs.values()) + list(msks.values())]
    manifest = {"format": FORMAT_VERSION, "name": name, "source": str(src.resolve()), "kind": "multiclass",
                "in_channels": 3, "class_names": list(CLASS_NAMES), "size": size, "seed": seed, "crops": crops,
                "free_rotation": False, "labeled_fraction": labeled_fraction,
                "splits": {k: len(v) for k, v in split.items()},
                "protocol": "SUIM, the paper's Study B preprocessing (seeded crops)", "files": file_manifest(src, files)}
    return write_prepared(Path(dst), parts, manifest)
