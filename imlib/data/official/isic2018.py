"""ISIC 2018 Task 1 from the challenge archives (paper-notes §8).

Expected under ``src`` (the unpacked official zips)::

    ISIC2018_Task1-2_Training_Input/ISIC_*.jpg        ISIC2018_Task1_Training_GroundTruth/ISIC_*_segmentation.png
    ISIC2018_Task1-2_Validation_Input/ISIC_*.jpg      ISIC2018_Task1_Validation_GroundTruth/...
    ISIC2018_Task1-2_Test_Input/ISIC_*.jpg            ISIC2018_Task1_Test_GroundTruth/...

As the paper: every image and mask resized to 256 x 256 (bilinear, aspect not kept; masks nearest here,
the paper's bilinear mask resize followed by its floor(mask / 255) decoding keeps the same pixels apart from
the border), the ``_segmentation`` suffix stripped, official validation (100) and test (1000) kept, 10 % of
the training set labeled (259 / 2335). The labeled draw is this project's seeded shuffle, not sklearn's
``train_test_split`` of the original, so the 259 images differ from the paper's; the lists are committed.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from imlib.data.folder import (FORMAT_VERSION, DatasetError, _binary, _check_pairs, _files, _resize, check_same_size,
                               file_manifest, read_array, seeded_order, share, verify_or_write_split,
                               write_prepared)

PARTS = {"train": "Training", "val": "Validation", "test": "Test"}
EXPECTED = {"train": 2594, "val": 100, "test": 1000}


def _pairs(src: Path, part: str) -> tuple[dict[str, Path], dict[str, Path]]:
    inp = src / f"ISIC2018_Task1-2_{PARTS[part]}_Input"
    gt = src / f"ISIC2018_Task1_{PARTS[part]}_GroundTruth"
    for d in (inp, gt):
        if not d.is_dir():
            raise DatasetError(f"{d}: missing folder (unpack the official ISIC 2018 Task 1 archives into {src})")
    images = _files(inp)
    masks = {}
    for stem, p in _files(gt).items():
        if not stem.endswith("_segmentation"):
            raise DatasetError(f"{p}: expected a ground-truth file named <image>_segmentation.png")
        masks[stem[: -len("_segmentation")]] = p
    _check_pairs(images, masks, inp, gt)
    return images, masks


def _encode(images: dict[str, Path], masks: dict[str, Path], stems: list[str], size: int):
    xs, ys = [], []
    for s in stems:
        img = read_array(images[s], "RGB")
        m = read_array(masks[s], "L")
        check_same_size(m, img, masks[s], images[s])
        xs.append(_resize(img, size, nearest=False).transpose(2, 0, 1))
        ys.append(_resize(_binary(m, masks[s]), size, nearest=True)[None])
    return np.stack(xs).astype(np.uint8), np.stack(ys).astype(np.uint8), stems


def prepare(src: str | Path, dst: str | Path, splits_dir: str | Path = "data/splits", size: int = 256,
            labeled_fraction: float = 0.1, seed: int = 42, name: str = "isic2018", strict_counts: bool = True) -> Path:
    src = Path(src)
    pairs = {part: _pairs(src, part) for part in PARTS}
    if strict_counts:
        wrong = {p: len(pairs[p][0]) for p in PARTS if len(pairs[p][0]) != EXPECTED[p]}
        if wrong:
            raise DatasetError(f"{src}: image counts {wrong} differ from the official {EXPECTED} "
                               f"(pass strict_counts=False for a subset)")
    order = seeded_order(pairs["train"][0], seed)
    n_lab = share(labeled_fraction, len(order))
    split = {"labeled": sorted(order[:n_lab]), "unlabeled": sorted(order[n_lab:]),
             "val": sorted(pairs["val"][0]), "test": sorted(pairs["test"][0])}
    if not split["unlabeled"]:
        raise DatasetError(f"{src}: no unlabeled images left after the {labeled_fraction} labeled split")
    split = verify_or_write_split(Path(splits_dir) / name, split)
    source = {"labeled": "train", "unlabeled": "train", "val": "val", "test": "test"}
    parts = {k: _encode(*pairs[source[k]], split[k], size) for k in split}
    files = [p for imgs, msks in pairs.values() for p in list(imgs.values()) + list(msks.values())]
    manifest = {"format": FORMAT_VERSION, "name": name, "source": str(src.resolve()), "kind": "binary",
                "in_channels": 3, "class_names": ["lesion"], "size": size, "seed": seed,
                "labeled_fraction": labeled_fraction, "splits": {k: len(v) for k, v in split.items()},
                "protocol": "ISIC 2018 Task 1, the paper's Study B preprocessing", "files": file_manifest(src, files)}
    return write_prepared(Path(dst), parts, manifest)
