"""ISIC 2018 Task 1 from the challenge archives.

Expected under ``src`` (the unpacked official zips)::

    ISIC2018_Task1-2_Training_Input/ISIC_*.jpg
    ISIC2018_Task1-2_Validation_Input/ISIC_*.jpg
    ISIC2018_Task1-2_Test_Input/ISIC_*.jpg
    ISIC2018_Task1_Training_GroundTruth/ISIC_*_segmentation.png
    ISIC2018_Task1_Validation_GroundTruth/...
    ISIC2018_Task1_Test_GroundTruth/...

As the paper: every image and mask resized to 256 x 256 (bilinear, aspect not kept; masks nearest here,
the paper's bilinear mask resize followed by its floor(mask / 255) decoding keeps the same pixels apart from
the border), the ``_segmentation`` suffix stripped, official validation (100) and test (1000) kept, 10 % of
the training set labeled (259 / 2335). The labeled draw is this project's seeded shuffle, not sklearn's
``train_test_split`` of the original, so the 259 images differ from the paper's; the lists are committed.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from imlib.data.prepare import OFFICIAL_PARTS, official_split, prepare_dataset, read_official_parts
from imlib.data.sources import (DatasetError, Pairs, binary_mask, check_pairs, check_same_size, image_files, read_array,
                                resize)

PARTS = {"train": "Training", "val": "Validation", "test": "Test"}
EXPECTED = {"train": 2594, "val": 100, "test": 1000}


def _pairs(src: Path, part: str) -> Pairs:
    inp = src / f"ISIC2018_Task1-2_{PARTS[part]}_Input"
    gt = src / f"ISIC2018_Task1_{PARTS[part]}_GroundTruth"
    for d in (inp, gt):
        if not d.is_dir():
            raise DatasetError(f"{d}: missing folder (unpack the official ISIC 2018 Task 1 archives into {src})")
    images = image_files(inp)
    masks = {}
    for stem, p in image_files(gt).items():
        if not stem.endswith("_segmentation"):
            raise DatasetError(f"{p}: expected a ground-truth file named <image>_segmentation.png")
        masks[stem[: -len("_segmentation")]] = p
    check_pairs(images, masks, inp, gt)
    return Pairs(images, masks)


def _encode(images: dict[str, Path], masks: dict[str, Path], stems: list[str], size: int):
    xs, ys = [], []
    for s in stems:
        img = read_array(images[s], "RGB")
        m = read_array(masks[s], "L")
        check_same_size(m, img, masks[s], images[s])
        xs.append(resize(img, size, nearest=False).transpose(2, 0, 1))
        ys.append(resize(binary_mask(m, masks[s]), size, nearest=True)[None])
    return np.stack(xs).astype(np.uint8), np.stack(ys).astype(np.uint8), stems


def prepare(src: str | Path, dst: str | Path, splits_dir: str | Path = "data/splits", size: int = 256,
            labeled_fraction: float = 0.1, seed: int = 42, name: str = "isic2018", strict_counts: bool = True) -> Path:
    src = Path(src)

    def read(src: Path) -> dict[str, Pairs]:
        return read_official_parts(src, _pairs, PARTS, EXPECTED, strict_counts, "pass strict_counts=False for a subset")

    def split(pairs: dict[str, Pairs]) -> dict[str, list[str]]:
        split = official_split(pairs, labeled_fraction, seed)
        if not split["unlabeled"]:
            raise DatasetError(f"{src}: no unlabeled images left after the {labeled_fraction} labeled split")
        return split

    def describe(pairs, split, parts) -> dict:
        return {"kind": "binary", "in_channels": 3, "class_names": ["lesion"], "size": size, "seed": seed,
                "paper_dataset": "isic2018",
                "labeled_fraction": labeled_fraction, "splits": {k: len(v) for k, v in split.items()},
                "protocol": "ISIC 2018 Task 1, the paper's Study B preprocessing"}

    return prepare_dataset(src, dst, splits_dir, name, read=read, split=split, describe=describe,
                           encode=lambda pairs, part, stems: _encode(*pairs[OFFICIAL_PARTS[part]], stems, size))
