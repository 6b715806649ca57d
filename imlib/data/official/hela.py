"""HeLa (the paper authors' release, ODC-BY) as a multi-label task: alive, dead, position (paper-notes §8).

Expected under ``src`` (the unpacked release)::

    original_data/{train_full,val,test}/brightfield/<stem>.<ext>     the grey input
    original_data/{train_full,val,test}/{alive,dead}/<stem>.png      binary masks
    original_data/{train_full,val,test}/mod_position/<stem>.png      position discs (or position/)

As the paper: 256 x 256 crops with 60 % overlap tiled over each image (n = round(L / (256 x 0.4)) crops per
axis, start i x L / n, clamped inside the image), every label channel thresholded at > 10, the official
val/test folders kept, 10 % of train_full labeled. Difference: the labeled/unlabeled split is made per
IMAGE, so overlapping crops of one image never straddle it (the original split per crop, which leaks
labeled pixels into the unlabeled set).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from imlib.data.folder import (FORMAT_VERSION, DatasetError, _check_pairs, _files, check_same_size, file_manifest,
                               read_array, seeded_order, share, verify_or_write_split, write_prepared)

CHANNELS = ("alive", "dead", "position")
FOLDERS = {"train": "train_full", "val": "val", "test": "test"}


def tile_starts(length: int, crop: int = 256, overlap: float = 0.6) -> list[int]:
    """Crop starts along one axis: round(length / (crop x (1 - overlap))) crops, clamped inside."""
    if length < crop:
        raise DatasetError(f"an image side of {length} px is smaller than the {crop} px crop")
    n = max(1, round(length / (crop * (1 - overlap))))
    return sorted({min(round(i * length / n), length - crop) for i in range(n)})


def _part(src: Path, part: str) -> tuple[dict[str, Path], dict[str, dict[str, Path]]]:
    base = src / "original_data" / FOLDERS[part]
    bright = base / "brightfield"
    if not bright.is_dir():
        raise DatasetError(f"{bright}: missing folder (expected the HeLa release's original_data/<split>/brightfield)")
    images = _files(bright)
    masks: dict[str, dict[str, Path]] = {s: {} for s in images}
    for ch in CHANNELS:
        folder = base / ("mod_position" if ch == "position" and (base / "mod_position").is_dir() else ch)
        if not folder.is_dir():
            raise DatasetError(f"{folder}: missing folder")
        files = _files(folder)
        _check_pairs(images, files, bright, folder)
        for s, p in files.items():
            masks[s][ch] = p
    return images, masks


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
    src = Path(src)
    parts = {p: _part(src, p) for p in FOLDERS}
    order = seeded_order(parts["train"][0], seed)
    n_lab = share(labeled_fraction, len(order))
    split = {"labeled": sorted(order[:n_lab]), "unlabeled": sorted(order[n_lab:]),
             "val": sorted(parts["val"][0]), "test": sorted(parts["test"][0])}
    empty = [k for k, v in split.items() if not v]
    if empty:
        raise DatasetError(f"{src}: too few images for the split: empty {', '.join(empty)}")
    split = verify_or_write_split(Path(splits_dir) / name, split)
    source = {"labeled": "train", "unlabeled": "train", "val": "val", "test": "test"}
    out = {k: _crops(*parts[source[k]], split[k], size) for k in split}
    files = [p for imgs, msks in parts.values() for p in list(imgs.values()) + [q for m in msks.values()
                                                                                for q in m.values()]]
    manifest = {"format": FORMAT_VERSION, "name": name, "source": str(src.resolve()), "kind": "multilabel",
                "in_channels": 1, "class_names": list(CHANNELS), "size": size, "seed": seed,
                "labeled_fraction": labeled_fraction, "splits": {k: len(v) for k, v in split.items()},
                "crops": {k: len(v[2]) for k, v in out.items()},
                "protocol": "HeLa, the paper's crops with an image-level split", "files": file_manifest(src, files)}
    return write_prepared(Path(dst), out, manifest)
