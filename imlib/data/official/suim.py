"""SUIM (underwater scenes, 8 classes) from its authors' release.

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

from imlib.data.prepare import labeled_split, prepare_dataset, seeded_order, share
from imlib.data.sources import DatasetError, Pairs, check_pairs, check_same_size, image_files, read_array, resize

CLASS_NAMES = ("IM", "waterbody", "human divers", "plants", "wrecks", "robots", "reefs", "fish", "sea-floor")


def decode_colour_mask(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) colour mask -> (H, W) class ids 1..8 (each channel thresholded at 128)."""
    bits = (rgb[..., :3] >= 128).astype(np.uint8)
    return (1 + 4 * bits[..., 0] + 2 * bits[..., 1] + bits[..., 2]).astype(np.uint8)


def _pairs(src: Path, part: str) -> Pairs:
    img_dir, mask_dir = src / part / "images", src / part / "masks"
    for d in (img_dir, mask_dir):
        if not d.is_dir():
            raise DatasetError(f"{d}: missing folder (expected SUIM's train_val/ and TEST/ with images/ and masks/)")
    images, masks = image_files(img_dir), image_files(mask_dir)
    check_pairs(images, masks, img_dir, mask_dir)
    return Pairs(images, masks)


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
            xs.append(resize(img[t:t + side, l:l + side], size, nearest=False).transpose(2, 0, 1))
            ys.append(resize(lab[t:t + side, l:l + side], size, nearest=True)[None])
            names.append(f"{s}#{k}")
    return np.stack(xs).astype(np.uint8), np.stack(ys).astype(np.uint8), names


def prepare(src: str | Path, dst: str | Path, splits_dir: str | Path = "data/splits", size: int = 256,
            labeled_fraction: float = 0.1, val_fraction: float = 0.1, seed: int = 42, crops: int = 2,
            name: str = "suim") -> Path:
    def split(parts: dict[str, Pairs]) -> dict[str, list[str]]:
        order = seeded_order(parts["train_val"].images, seed)
        n_val = share(val_fraction, len(order))
        return {**labeled_split(order[n_val:], labeled_fraction), "val": sorted(order[:n_val]),
                "test": sorted(parts["TEST"].images)}

    def describe(parts, split, out) -> dict:
        return {"kind": "multiclass", "in_channels": 3, "class_names": list(CLASS_NAMES), "size": size, "seed": seed,
                "crops": crops, "free_rotation": False, "labeled_fraction": labeled_fraction, "paper_dataset": "suim",
                "splits": {k: len(v) for k, v in split.items()},
                "protocol": "SUIM, the paper's Study B preprocessing (seeded crops)"}

    def encode(parts: dict[str, Pairs], part: str, stems: list[str]):
        return _encode(*parts["TEST" if part == "test" else "train_val"], stems, size, crops, seed)

    return prepare_dataset(src, dst, splits_dir, name, split=split, encode=encode, describe=describe,
                           read=lambda src: {part: _pairs(src, part) for part in ("train_val", "TEST")})
