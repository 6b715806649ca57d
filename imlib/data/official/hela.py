"""HeLa (the paper authors' release, ODC-BY) as a multi-label task: alive, dead, position.

Expected under ``src`` (the unpacked release)::

    original_data/<split>/brightfield/<stem>.<ext>    the grey input
    original_data/<split>/{alive,dead}/<stem>.png     binary masks
    original_data/<split>/mod_position/<stem>.png     position discs (or position/)

with ``<split>`` each of ``train_full``, ``val`` and ``test``.

As the paper: 256 x 256 crops with 60 % overlap tiled over each image (n = round(L / (256 x 0.4)) crops per
axis, start i x L / n, clamped inside the image), every label channel thresholded at > 10, the official
val/test folders kept, 10 % of train_full labeled. Difference: the labeled/unlabeled split is made per
IMAGE, so overlapping crops of one image never straddle it (the original split per crop, which leaks
labeled pixels into the unlabeled set).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from imlib.data.prepare import OFFICIAL_PARTS, official_split, prepare_dataset
from imlib.data.sources import DatasetError, Pairs, check_pairs, check_same_size, image_files, read_array

CHANNELS = ("alive", "dead", "position")
FOLDERS = {"train": "train_full", "val": "val", "test": "test"}


def tile_starts(length: int, crop: int = 256, overlap: float = 0.6) -> list[int]:
    """Crop starts along one axis: round(length / (crop x (1 - overlap))) crops, clamped inside."""
    if length < crop:
        raise DatasetError(f"an image side of {length} px is smaller than the {crop} px crop")
    n = max(1, round(length / (crop * (1 - overlap))))
    return sorted({min(round(i * length / n), length - crop) for i in range(n)})


def _part(src: Path, part: str) -> Pairs:
    base = src / "original_data" / FOLDERS[part]
    bright = base / "brightfield"
    if not bright.is_dir():
        raise DatasetError(f"{bright}: missing folder (expected the HeLa release's original_data/<split>/brightfield)")
    images = image_files(bright)
    masks: dict[str, dict[str, Path]] = {s: {} for s in images}
    for ch in CHANNELS:
        folder = base / ("mod_position" if ch == "position" and (base / "mod_position").is_dir() else ch)
        if not folder.is_dir():
            raise DatasetError(f"{folder}: missing folder")
        files = image_files(folder)
        check_pairs(images, files, bright, folder)
        for s, p in files.items():
            masks[s][ch] = p
    return Pairs(images, masks)


def _crops(images, masks, stems, crop):
    xs, ys, names = [], [], []
    for s in stems:
        img = read_array(images[s], "L")
        chans = []
        for ch in CHANNELS:
            m = read_array(masks[s][ch], "L")
            check_same_size(m, img, masks[s][ch], images[s])
            chans.append((m > 10).astype(np.uint8))
        lab = np.stack(chans)
        for t in tile_starts(img.shape[0], crop):
            for left in tile_starts(img.shape[1], crop):
                xs.append(img[None, t:t + crop, left:left + crop])
                ys.append(lab[:, t:t + crop, left:left + crop])
                names.append(f"{s}@{t},{left}")
    return np.stack(xs).astype(np.uint8), np.stack(ys).astype(np.uint8), names


def prepare(src: str | Path, dst: str | Path, splits_dir: str | Path = "data/splits", size: int = 256,
            labeled_fraction: float = 0.1, seed: int = 42, name: str = "hela") -> Path:
    """``size`` is the crop side (the paper's 256); crops are not resized."""
    def describe(parts, split, out) -> dict:
        return {"kind": "multilabel", "in_channels": 1, "class_names": list(CHANNELS), "size": size, "seed": seed,
                "paper_dataset": "hela",
                "labeled_fraction": labeled_fraction, "splits": {k: len(v) for k, v in split.items()},
                "crops": {k: len(v[2]) for k, v in out.items()},
                "protocol": "HeLa, the paper's crops with an image-level split"}

    return prepare_dataset(src, dst, splits_dir, name, read=lambda src: {p: _part(src, p) for p in FOLDERS},
                           split=lambda parts: official_split(parts, labeled_fraction, seed), describe=describe,
                           encode=lambda parts, part, stems: _crops(*parts[OFFICIAL_PARTS[part]], stems, size))
