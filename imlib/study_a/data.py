"""Study A's data: the split lists, strict readers, the hosts' geometric augmentation and the labeled stream.

* :func:`split_lists` resolves a data set and a U2PL split (1/16 ... 1/2) to file lists; the unlabeled part is
  images only, so no code path can read ground truth of an unlabeled image (UniMatch's unlabeled list also names the
  label file).
* The datasets do the hosts' geometric augmentation (random rescale 0.5-2.0, crop with padding, flip) per
  sample on the CPU, drawn from ``(seed, epoch, index)``: the same views whatever the number of DataLoader
  workers or processes, and a resumed run replays its epoch. Colour augmentation is the hosts' business, on
  the device (``imlib.study_a.batches``).
* The IM blackout is applied after the geometry, so bilinear resizing never smears it into labelled pixels.
* :func:`epoch_order` samples the labeled stream independently of the unlabeled length (the hosts
  repeat the labeled list up to the unlabeled length and cut it, which would drop the tail of GT ∪ IM pairs).
"""
from __future__ import annotations

import json
import os
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from imlib.data.official.cityscapes import FRACTIONS, TRAIN_NAMES, study_a_pairs
from imlib.data.sources import DatasetError, check_same_size, open_image, refuse_lossy
from imlib.study_a.batches import IGNORE, IMAGENET_MEAN, LabeledBatch, UnlabeledBatch
from imlib.study_a.synthetic import ensure_synthetic_cityscapes

DATASETS = ("synthetic-cityscapes", "cityscapes")
SPLITS = tuple(FRACTIONS)  # "1/16", "1/8", "1/4", "1/2"
NUM_CLASSES = len(TRAIN_NAMES)
PREPARED_NAME = "cityscapes_study_a"
SCALE = (0.5, 2.0)
BLACKOUTS = {"black": (0, 0, 0), "mean": tuple(round(255 * m) for m in IMAGENET_MEAN), "none": None}
RGB_LIKE = ("RGB", "RGBA", "RGBX", "P", "YCbCr")  # modes whose conversion to RGB keeps the colours
LABEL_MODES = ("L", "P")  # one 8-bit value per pixel (P: the palette index is the value)


# --- split lists ------------------------------------------------------------------------------------------

@dataclass
class SplitLists:
    """The files of one data set and split, with what a run record needs to say which data it saw."""

    name: str
    split: str
    root: Path
    labeled: list[tuple[Path, Path]]  # (image, train-id label)
    unlabeled: list[Path]  # images only: no code path can read an unlabeled image's ground truth
    val: list[tuple[Path, Path]]
    synthetic: bool
    stands_in_for: str | None
    class_names: list[str]
    num_classes: int = NUM_CLASSES
    provenance: dict[str, Any] = field(default_factory=dict)


def _manifest(root: Path) -> dict[str, Any]:
    path = root / "manifest.json"
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise DatasetError(f"{path}: missing or unreadable ({e}); prepare the data again") from None
    if not isinstance(manifest, dict) or manifest.get("study") != "a":
        raise DatasetError(f"{path}: not the manifest of a Study A data set (no \"study\": \"a\")")
    return manifest


def _check_exist(paths: list[Path], root: Path, split: str) -> None:
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise DatasetError(f"{root}: {len(missing)} files of split {split} are missing, e.g. "
                           f"{', '.join(map(str, missing[:3]))}; prepare the data again")


def read_split(root: Path, name: str, split: str) -> SplitLists:
    """The lists of a folder in the Study A layout (real or synthetic); the manifest's ``fractions`` (split
    name -> labeled count) when it has them, else U2PL's counts."""
    manifest = _manifest(root)
    n = str(manifest.get("fractions", FRACTIONS)[split])
    labeled = study_a_pairs(root, n, "labeled")
    unlabeled = [image for image, _ in study_a_pairs(root, n, "unlabeled")]
    val = study_a_pairs(root, n, "val")
    _check_exist([p for pair in labeled + val for p in pair] + unlabeled, root, split)
    names = list(manifest.get("class_names", []))
    if names != list(TRAIN_NAMES):
        raise DatasetError(f"{root / 'manifest.json'}: class_names {names[:5]}... are not Cityscapes' 19 train "
                           f"classes")
    return SplitLists(name, split, root, labeled, unlabeled, val, bool(manifest.get("synthetic", False)),
                      manifest.get("stands_in_for"), names, len(names),
                      {k: v for k, v in manifest.items() if k != "files"} | {"root": str(root)})


def split_lists(dataset: str, split: str, prepared_dir: str | Path, work_dir: str | Path,
                seed: int = 0) -> SplitLists:
    """``synthetic-cityscapes`` (written under ``work_dir`` on first use, from ``seed``) or ``cityscapes``
    (prepared under ``prepared_dir``), one of the U2PL splits."""
    if dataset not in DATASETS:
        raise ValueError(f"Study A dataset must be one of {DATASETS}, got {dataset!r}")
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if dataset == "synthetic-cityscapes":
        root = ensure_synthetic_cityscapes(Path(work_dir) / "datasets" / f"synthetic-cityscapes-a-seed{seed}",
                                           seed=seed)
    else:
        root = Path(prepared_dir) / PREPARED_NAME
        if not root.is_dir():
            raise DatasetError(f"{root}: missing; prepare Cityscapes for Study A first: "
                               f"`imlib prepare cityscapes --protocol study-a --src <download>`")
    return read_split(root, dataset, split)


# --- readers ----------------------------------------------------------------------------------------------

def read_image(path: Path) -> np.ndarray:
    """An RGB image as uint8 (H, W, 3); a grey or multi-band image is an error, not silently made RGB."""
    with open_image(path) as im:
        im.load()
        if im.mode not in RGB_LIKE:
            raise DatasetError(f"{path}: expected an RGB image, got mode {im.mode}")
        return np.asarray(im.convert("RGB"))


def read_label(path: Path, num_classes: int = NUM_CLASSES) -> np.ndarray:
    """A train-id label map, uint8 (H, W): a single-channel 8-bit PNG of 0..num_classes-1 and 255. A 16-bit
    or colour file is an error: converting it would make new, meaningless values."""
    refuse_lossy(path)
    with open_image(path) as im:
        im.load()
        refuse_lossy(path, im.format)
        if im.mode not in LABEL_MODES:
            raise DatasetError(f"{path}: expected a single-channel 8-bit label (mode L or P) of train ids "
                               f"0..{num_classes - 1} and {IGNORE}, got mode {im.mode}")
        label = np.asarray(im)
    bad = (label >= num_classes) & (label != IGNORE)
    if bad.any():
        raise DatasetError(f"{path}: values {np.unique(label[bad])[:10].tolist()} are not train ids "
                           f"0..{num_classes - 1} or {IGNORE}")
    return label


def write_label(path: Path, label: np.ndarray) -> None:
    """Write a uint8 (H, W) label map as PNG, atomically (a reader never sees half a file)."""
    if label.dtype != np.uint8 or label.ndim != 2:
        raise ValueError(f"{path}: a label map must be uint8 (H, W), got {label.dtype} {label.shape}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    Image.fromarray(label).save(tmp, format="PNG")
    os.replace(tmp, path)


def _read_pair(image_path: Path, label_path: Path) -> tuple[np.ndarray, np.ndarray]:
    image, label = read_image(image_path), read_label(label_path)
    check_same_size(label, image, label_path, image_path)
    return image, label


# --- the hosts' geometric augmentation --------------------------------------------------------------------

def augment(rng: np.random.Generator, image: np.ndarray, labels: list[np.ndarray], crop: int,
            scale: tuple[float, float] = SCALE) -> tuple[np.ndarray, list[np.ndarray], np.ndarray]:
    """Random rescale (bilinear image, nearest labels), random ``crop`` x ``crop`` with padding (image 0,
    labels 255) where the rescaled image is smaller, horizontal flip with p 0.5. Returns the image, the labels
    and the padding mask (True on padding)."""
    h, w = image.shape[:2]
    s = rng.uniform(*scale)
    wh = (max(1, int(w * s + 0.5)), max(1, int(h * s + 0.5)))
    image = np.asarray(Image.fromarray(image).resize(wh, Image.BILINEAR))
    labels = [np.asarray(Image.fromarray(lab).resize(wh, Image.NEAREST)) for lab in labels]
    ph, pw = max(0, crop - wh[1]), max(0, crop - wh[0])  # padded right and bottom, as the hosts do
    image = np.pad(image, ((0, ph), (0, pw), (0, 0)))
    labels = [np.pad(lab, ((0, ph), (0, pw)), constant_values=IGNORE) for lab in labels]
    padding = np.pad(np.zeros((wh[1], wh[0]), bool), ((0, ph), (0, pw)), constant_values=True)
    y = int(rng.integers(0, padding.shape[0] - crop + 1))
    x = int(rng.integers(0, padding.shape[1] - crop + 1))
    window = (slice(y, y + crop), slice(x, x + crop))
    image, padding, labels = image[window], padding[window], [lab[window] for lab in labels]
    if rng.random() < 0.5:
        image, padding, labels = image[:, ::-1], padding[:, ::-1], [lab[:, ::-1] for lab in labels]
    return np.ascontiguousarray(image), [np.ascontiguousarray(lab) for lab in labels], np.ascontiguousarray(padding)


def _image_tensor(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))


class _Augmented(Dataset):
    """Per-sample random draws from ``(seed, epoch, index)``; ``set_epoch`` before each epoch."""

    def __init__(self, crop: int, seed: int, scale: tuple[float, float]):
        self.crop, self.seed, self.scale, self.epoch = crop, seed, scale, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _rng(self, index: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.epoch, index])


class TrainPairs(_Augmented):
    """Labeled pairs: GT pairs and (variant G) IM pairs, whose label is 255 exactly on the inconsistency mask.
    ``blackout`` sets the image there to black (the legacy IM input), the ImageNet mean, or leaves it."""

    def __init__(self, items: list[tuple[Path, Path, bool]], crop: int, blackout: str = "black", seed: int = 0,
                 scale: tuple[float, float] = SCALE):
        if blackout not in BLACKOUTS:
            raise ValueError(f"blackout must be one of {tuple(BLACKOUTS)}, got {blackout!r}")
        super().__init__(crop, seed, scale)
        self.items, self.blackout = list(items), blackout

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        image_path, label_path, is_im = self.items[index]
        image, label = _read_pair(image_path, label_path)
        image, (label,), _ = augment(self._rng(index), image, [label], self.crop, self.scale)
        value = BLACKOUTS[self.blackout]
        if is_im and value is not None:
            image = image.copy()
            image[label == IGNORE] = value
        return {"image": _image_tensor(image), "label": torch.from_numpy(label.astype(np.int64))}


class UnlabeledImages(_Augmented):
    """Unlabeled images (never their ground truth), with the crop padding as ``ignore`` and, for variant M,
    each image's offline IM mask (its IM pseudo-label == 255) carried through the same geometry."""

    def __init__(self, items: list[Path], crop: int, im_labels: dict[Path, Path] | None = None, seed: int = 0,
                 scale: tuple[float, float] = SCALE):
        super().__init__(crop, seed, scale)
        self.items, self.im_labels = list(items), im_labels
        if im_labels is not None:
            missing = [p for p in self.items if p not in im_labels]
            if missing:
                raise ValueError(f"no IM pseudo-label for {len(missing)} unlabeled images, e.g. {missing[0]}")

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        path = self.items[index]
        if self.im_labels is None:
            image, labels = read_image(path), []
        else:
            image, label = _read_pair(path, self.im_labels[path])
            labels = [label]
        image, labels, padding = augment(self._rng(index), image, labels, self.crop, self.scale)
        im_mask = (labels[0] == IGNORE) & ~padding if labels else np.zeros_like(padding)
        return {"image": _image_tensor(image), "ignore": torch.from_numpy(padding),
                "im_mask": torch.from_numpy(im_mask)}


class EvalPairs(Dataset):
    """Validation pairs at full size, unaugmented (the evaluation slides its own windows)."""

    def __init__(self, items: list[tuple[Path, Path]]):
        self.paths = list(items)  # (image, label) per index

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        image, label = _read_pair(*self.paths[index])
        return {"image": _image_tensor(image), "label": torch.from_numpy(label.astype(np.int64))}


def collate_labeled(items: list[dict[str, torch.Tensor]]) -> LabeledBatch:
    return LabeledBatch(torch.stack([i["image"] for i in items]), torch.stack([i["label"] for i in items]))


def collate_unlabeled(items: list[dict[str, torch.Tensor]]) -> UnlabeledBatch:
    return UnlabeledBatch(*(torch.stack([i[k] for i in items]) for k in ("image", "ignore", "im_mask")))


# --- epoch order ------------------------------------------------------------------------------------------

def epoch_order(n_items: int, length: int, seed: int, epoch: int, stream: str) -> np.ndarray:
    """The indices one epoch of ``stream`` visits: independent seeded permutations of ``range(n_items)``
    concatenated and cut to ``length``. Each item comes floor or ceil(length / n_items) times, and which ones
    fall out changes with the epoch; the hosts' repeat-and-slice instead always drops the same tail of the
    labeled list when it is longer than the unlabeled one."""
    if length < 0 or n_items < 0 or (n_items == 0 and length > 0):
        raise ValueError(f"cannot draw {length} indices from {n_items} items")
    if length == 0:
        return np.zeros(0, np.int64)
    rng = np.random.default_rng([seed, epoch, zlib.crc32(stream.encode())])
    rounds = -(-length // n_items)
    return np.concatenate([rng.permutation(n_items) for _ in range(rounds)])[:length].astype(np.int64)
