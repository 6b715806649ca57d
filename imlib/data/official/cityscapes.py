"""Cityscapes from the official download, for both studies: Study B's small images, Study A's benchmark.

Expected under ``src`` (the unpacked ``leftImg8bit_trainvaltest.zip`` and ``gtFine_trainvaltest.zip``)::

    leftImg8bit/{train,val}/<city>/<stem>_leftImg8bit.png   2975 / 500 images
    gtFine/{train,val}/<city>/<stem>_gtFine_labelIds.png    label ids 0..33

with ``<stem>`` = ``<city>_<seq>_<frame>``.

**Study B** (``prepare``, the from-scratch U-Net protocol): every image scaled by 0.2 and rounded up to a
multiple of 16 (2048 x 1024 -> 416 x 208; bilinear images, nearest labels), 10 % of train labeled (297 / 2678,
seeded), the official val split in halves for validation and test (250 / 250). Classes, ``classes=``:

* ``"trainids"`` (default): the 19 evaluation classes of the benchmark at ids 1..19, class 0 the IM class, and
  the void label ids (unlabeled, ego vehicle, static, parking, rail track, ...) set to 255, ignored by the loss
  and the metric. The original fed all 34 label ids to a 35-way softmax with "unlabeled" (id 0) left at 0,
  where it collides with the IM class, and its per-image mIoU counted the void classes (in the
  authors' code); neither is copied here.
* ``"paper"``: the paper's 35 outputs, label id ``i`` at ``i + 1`` (so "unlabeled" no longer collides with the
  IM class) and the void classes trained and scored as in the original: the setting to put beside the
  paper's Study B Cityscapes column, whose numbers were computed this way.

**Study A** (``prepare_study_a``, the standard semi-supervised benchmark): full resolution, the 19 train ids
with 255 ignored, written as ``gtFine/<split>/<city>/<stem>_gtFine_labelTrainIds.png`` (cityscapesScripts'
naming, which the host codebases read) next to a link to the source ``leftImg8bit/``; the labeled/unlabeled
partitions are U2PL's 1/16, 1/8, 1/4 and 1/2 lists, fetched from its repository at a pinned commit and checked
against their SHA-256 (or taken from a local copy, checked the same way).
"""
from __future__ import annotations

import json
import math
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from imlib.data.prepare import (FORMAT_VERSION, check_destination, check_name, move_into_place, pair_files,
                                prepare_dataset, read_list, read_official_parts, seeded_order, set_difference)
from imlib.data.sources import (DatasetError, Pairs, check_pairs, check_same_size, file_manifest, read_array,
                                resize)

# (label id, name, train id) of cityscapesScripts' labels.py; 255: void, not evaluated
LABELS = (
    (0, "unlabeled", 255), (1, "ego vehicle", 255), (2, "rectification border", 255), (3, "out of roi", 255),
    (4, "static", 255), (5, "dynamic", 255), (6, "ground", 255), (7, "road", 0), (8, "sidewalk", 1),
    (9, "parking", 255), (10, "rail track", 255), (11, "building", 2), (12, "wall", 3), (13, "fence", 4),
    (14, "guard rail", 255), (15, "bridge", 255), (16, "tunnel", 255), (17, "pole", 5), (18, "polegroup", 255),
    (19, "traffic light", 6), (20, "traffic sign", 7), (21, "vegetation", 8), (22, "terrain", 9), (23, "sky", 10),
    (24, "person", 11), (25, "rider", 12), (26, "car", 13), (27, "truck", 14), (28, "bus", 15),
    (29, "caravan", 255), (30, "trailer", 255), (31, "train", 16), (32, "motorcycle", 17), (33, "bicycle", 18),
)
TRAIN_NAMES = tuple(name for _, name, t in sorted(LABELS, key=lambda r: r[2]) if t != 255)
EXPECTED = {"train": 2975, "val": 500}
SOURCE = {"labeled": "train", "unlabeled": "train", "val": "val", "test": "val"}  # Study B part -> official part
CLASSES = ("trainids", "paper")

U2PL_REPO = "Haochen-Wang409/U2PL"
U2PL_COMMIT = "ab3d2be313d4d6b2885e7a0213d4fce82a803b79"
U2PL_URL = f"https://raw.githubusercontent.com/{U2PL_REPO}/{U2PL_COMMIT}/data/splits/cityscapes/"
U2PL_SHA256 = {
    "186/labeled.txt": "b325a363ec870628cbf3265bf48f9d9bf3e6e87a6e5c004ca989cda6279a0fd4",
    "186/unlabeled.txt": "0adcdcf9cf5db4276dfcdba1c207b2e5439ee465102d923eff3eec61573c5393",
    "372/labeled.txt": "a7fa9c926a15c3983a6b2b884dc455bcfaf59ddc2cbe63f895e1d067d5a7f9b4",
    "372/unlabeled.txt": "de6eeec7ec6d43403138d840e91e671af0033dc09a09cbcd14a7b872963b034f",
    "744/labeled.txt": "489d49d7dde31150a862dbd0aabfa8e787b9278ee51978d7d3d2c8e67d666c66",
    "744/unlabeled.txt": "e7b30bf5cee9103f546818e61fd8e26eb63c3a763fdd2a45343744bb6d96618a",
    "1488/labeled.txt": "1c345bd7ed630b201bc3c3cde2604dce0d65df35c142bbf35ffea8a699485488",
    "1488/unlabeled.txt": "be9e936decc74da8575cd57974e3b0ed4a669317873a5748125330b7d10409dc",
    "val.txt": "8115b5b627fe0b24001c541804788b8c2bb16076b78ad036a9905d471abd11fd",
}
FRACTIONS = {"1/16": 186, "1/8": 372, "1/4": 744, "1/2": 1488}


def label_lut(classes: str) -> np.ndarray:
    """Label id -> stored class: ``trainids`` 1..19 (255 void), ``paper`` id + 1; unknown ids stay 255."""
    if classes not in CLASSES:
        raise DatasetError(f"classes must be one of {CLASSES}, got {classes!r}")
    lut = np.full(256, 255, np.uint8)
    for i, _, t in LABELS:
        lut[i] = (t + 1 if t != 255 else 255) if classes == "trainids" else i + 1
    return lut


def train_id_lut() -> np.ndarray:
    """Label id -> train id 0..18, 255 void (the Study A encoding)."""
    lut = np.full(256, 255, np.uint8)
    for i, _, t in LABELS:
        lut[i] = t
    return lut


def class_names(classes: str) -> list[str]:
    return ["IM"] + (list(TRAIN_NAMES) if classes == "trainids" else [name for _, name, _ in LABELS])


def study_b_size(width: int, height: int, scale: float = 0.2) -> tuple[int, int]:
    """(width, height) scaled and rounded up to a multiple of 16, as the paper: 2048 x 1024 -> 416 x 208."""
    return (math.ceil(width * scale / 16) * 16, math.ceil(height * scale / 16) * 16)


def study_b_split(train: list[str], val: list[str], labeled_fraction: float = 0.1, seed: int = 42) -> dict:
    """Seeded: the labeled fraction of train rounded down as the paper's ``train_test_split`` (297 / 2678),
    the official val halved into validation and test (250 / 250)."""
    order = seeded_order(train, seed)
    n_lab = max(1, len(order) - math.ceil(round((1 - labeled_fraction) * len(order), 6)))
    val_order = seeded_order(val, seed)
    half = len(val_order) // 2
    return {"labeled": sorted(order[:n_lab]), "unlabeled": sorted(order[n_lab:]),
            "val": sorted(val_order[:half]), "test": sorted(val_order[half:])}


def _pairs(src: Path, part: str) -> Pairs:
    """Stem ``<city>_<seq>_<frame>`` -> image and label-id file of one official split."""
    img_root, gt_root = src / "leftImg8bit" / part, src / "gtFine" / part
    for d in (img_root, gt_root):
        if not d.is_dir():
            raise DatasetError(f"{d}: missing folder (unpack leftImg8bit_trainvaltest.zip and gtFine_trainvaltest.zip "
                               f"into {src}; `imlib download cityscapes` says how)")
    images = {p.name[: -len("_leftImg8bit.png")]: p for p in sorted(img_root.glob("*/*_leftImg8bit.png"))}
    masks = {p.name[: -len("_gtFine_labelIds.png")]: p for p in sorted(gt_root.glob("*/*_gtFine_labelIds.png"))}
    if not images:
        raise DatasetError(f"{img_root}: no <city>/*_leftImg8bit.png images")
    check_pairs(images, masks, img_root, gt_root)
    return Pairs(images, masks)


def read_label_ids(path: Path) -> np.ndarray:
    """A ``*_gtFine_labelIds.png``; values must be Cityscapes label ids 0..33 (the offending ones are listed)."""
    ids = read_array(path)
    if ids.ndim != 2:
        raise DatasetError(f"{path}: expected a single-channel label-id image, got shape {ids.shape}")
    bad = sorted(set(np.unique(ids).tolist()) - {i for i, _, _ in LABELS})
    if bad:
        raise DatasetError(f"{path}: values {bad[:20]} are not Cityscapes label ids (0..33)")
    return ids


def _parallel(fn, items):
    with ThreadPoolExecutor(max(1, min(8, os.cpu_count() or 1))) as pool:
        return list(pool.map(fn, items))


def prepare(src: str | Path, dst: str | Path, splits_dir: str | Path = "data/splits", size: int | None = None,
            labeled_fraction: float = 0.1, seed: int = 42, name: str = "cityscapes", classes: str = "trainids",
            scale: float = 0.2, strict_counts: bool = True) -> Path:
    """The Study B protocol (see the module docstring); ``size`` is ignored: the size follows ``scale``."""
    src = Path(src)
    lut = label_lut(classes)

    def read(src: Path) -> dict[str, Pairs]:
        return read_official_parts(src, _pairs, EXPECTED, EXPECTED, strict_counts,
                                   "pass strict_counts=False / --subset for a subset")

    def encode_one(item: tuple[Pairs, str]) -> tuple[np.ndarray, np.ndarray]:
        (images, masks), stem = item
        img = read_array(images[stem], "RGB")
        ids = read_label_ids(masks[stem])
        check_same_size(ids, img, masks[stem], images[stem])
        wh = study_b_size(img.shape[1], img.shape[0], scale)
        return resize(img, wh, nearest=False).transpose(2, 0, 1), lut[resize(ids, wh, nearest=True)][None]

    def encode(pairs: dict[str, Pairs], part: str, stems: list[str]):
        encoded = _parallel(encode_one, [(pairs[SOURCE[part]], s) for s in stems])
        shapes = {x.shape for x, _ in encoded}
        if len(shapes) > 1:
            raise DatasetError(f"{src}: images of different sizes in {part} ({sorted(shapes)[:3]}); Cityscapes "
                               f"images are all 2048 x 1024")
        return np.stack([x for x, _ in encoded]), np.stack([y for _, y in encoded]), stems

    def describe(pairs, split, parts) -> dict:
        height, width = parts["labeled"][0].shape[-2:]
        return {"kind": "multiclass", "in_channels": 3, "class_names": class_names(classes), "classes": classes,
                "size": [int(height), int(width)], "scale": scale, "seed": seed, "free_rotation": False,
                "paper_dataset": "cityscapes",
                "labeled_fraction": labeled_fraction, "splits": {k: len(v) for k, v in split.items()},
                "protocol": f"Cityscapes, the paper's Study B preprocessing, classes={classes}"}

    return prepare_dataset(src, dst, splits_dir, name, read=read, encode=encode, describe=describe,
                           split=lambda pairs: study_b_split(pairs["train"].images, pairs["val"].images,
                                                             labeled_fraction, seed))


# --- Study A ---------------------------------------------------------------------------------------------

def u2pl_lists(cache: str | Path, local: str | Path | None = None,
               checksums: dict[str, str] = U2PL_SHA256) -> dict[str, list[str]]:
    """U2PL's split lists (their lines), checked against ``checksums``: read from ``local`` (a folder laid out
    as U2PL's ``data/splits/cityscapes/``) when given, else downloaded from the pinned commit into ``cache``."""
    from imlib.data.download import DownloadError, check_sha256, fetch

    lists = {}
    for rel, digest in checksums.items():
        try:
            if local is not None:
                path = Path(local) / rel
                if not path.exists():
                    raise DatasetError(f"{path}: missing (expected U2PL's data/splits/cityscapes/{rel})")
                check_sha256(path, digest, f"U2PL's {rel} at commit {U2PL_COMMIT[:7]}")
            else:
                path = fetch(U2PL_URL + rel, Path(cache) / rel, digest, quiet=True)
        except DownloadError as e:
            raise DatasetError(str(e)) from None
        lists[rel] = read_list(path)
    return lists


def image_entry(line: str) -> str:
    """The image path of a U2PL list line: the whole line, or what precedes its label path when the line
    carries one (``<image> gtFine/...``); split on that, not on spaces, since a name may hold spaces."""
    return line.split(" gtFine/", 1)[0]


def _list_stems(entries: list[str], list_name: str, part: str) -> list[str]:
    stems = []
    for e in map(image_entry, entries):
        p = Path(e)
        if p.parts[:2] != ("leftImg8bit", part) or not p.name.endswith("_leftImg8bit.png"):
            raise DatasetError(f"{list_name}: entry {e!r} is not leftImg8bit/{part}/<city>/<name>_leftImg8bit.png")
        stems.append(p.name[: -len("_leftImg8bit.png")])
    return stems


def _check_partition(name: str, labeled: list[str], unlabeled: list[str], train: set[str]) -> None:
    both = sorted(set(labeled) & set(unlabeled))
    if both:
        raise DatasetError(f"U2PL split {name}: images both labeled and unlabeled: {both[:10]}")
    listed = set(labeled) | set(unlabeled)
    if listed != train:
        raise DatasetError(f"U2PL split {name} names other train images than {len(train)} found "
                           f"({set_difference(listed, train)})")


def prepare_study_a(src: str | Path, dst: str | Path, cache: str | Path = "data/raw/u2pl_splits",
                    u2pl_splits: str | Path | None = None, checksums: dict[str, str] = U2PL_SHA256,
                    name: str = "cityscapes_study_a") -> Path:
    """The Study A protocol (see the module docstring); written to a temporary folder and moved into place."""
    src, dst = Path(src).resolve(), Path(dst)
    check_name(name)
    check_destination(dst, src)
    pairs = {part: _pairs(src, part) for part in EXPECTED}
    lists = u2pl_lists(cache, u2pl_splits, checksums)
    train = set(pairs["train"][0])
    splits = {}
    for rel in checksums:
        if rel == "val.txt":
            continue
        n, kind = rel.split("/")
        splits.setdefault(n, {})[kind[: -len(".txt")]] = _list_stems(lists[rel], rel, "train")
    for n, s in splits.items():
        _check_partition(n, s["labeled"], s["unlabeled"], train)
    val = _list_stems(lists["val.txt"], "val.txt", "val")
    if set(val) != set(pairs["val"][0]):
        raise DatasetError(f"U2PL val.txt names other val images than found in {src / 'leftImg8bit' / 'val'} "
                           f"({set_difference(set(val), set(pairs['val'][0]))})")

    tmp = dst.with_name(dst.name + f".tmp{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    lut = train_id_lut()

    def convert(item: tuple[str, str]) -> None:
        from PIL import Image

        part, stem = item
        images, masks = pairs[part]
        ids = read_label_ids(masks[stem])
        img = read_array(images[stem])
        check_same_size(ids, img, masks[stem], images[stem])
        out = tmp / "gtFine" / part / masks[stem].parent.name / f"{stem}_gtFine_labelTrainIds.png"
        out.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(lut[ids]).save(out)

    _parallel(convert, [(part, s) for part in EXPECTED for s in pairs[part][0]])
    os.symlink(src / "leftImg8bit", tmp / "leftImg8bit", target_is_directory=True)
    for rel, entries in lists.items():
        out = tmp / "splits" / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text("\n".join(entries) + "\n")
    manifest = {"format": FORMAT_VERSION, "name": name, "study": "a", "source": str(src), "protocol": "Cityscapes Study A: "
                "full resolution, 19 train ids, 255 ignored, U2PL partitions", "kind": "multiclass",
                "class_names": list(TRAIN_NAMES), "ignore_index": 255,
                "u2pl": {"repository": U2PL_REPO, "commit": U2PL_COMMIT, "sha256": dict(checksums)},
                "splits": {n: {"labeled": len(s["labeled"]), "unlabeled": len(s["unlabeled"])}
                           for n, s in splits.items()} | {"val": len(val)},
                "files": file_manifest(src, pair_files(pairs))}
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return move_into_place(tmp, dst, src)


def study_a_pairs(prepared: str | Path, split: str = "1/16", part: str = "labeled") -> list[tuple[Path, Path]]:
    """(image, train-id label) paths of one Study A partition: ``split`` 1/16, 1/8, 1/4, 1/2 (or the labeled
    count), ``part`` labeled, unlabeled or val. Unlabeled images keep their label path for evaluation only."""
    prepared = Path(prepared)
    n = str(FRACTIONS.get(split, split))
    rel = "val.txt" if part == "val" else f"{n}/{part}.txt"
    listing = prepared / "splits" / rel
    if not listing.exists():
        raise DatasetError(f"{listing}: missing; run `imlib prepare cityscapes --protocol study-a` (splits are "
                           f"{', '.join(FRACTIONS)})")
    out = []
    for e in map(image_entry, read_list(listing)):
        p = Path(e)
        stem = p.name[: -len("_leftImg8bit.png")]
        out.append((prepared / p, prepared / "gtFine" / p.parts[1] / p.parts[2] / f"{stem}_gtFine_labelTrainIds.png"))
    return out
