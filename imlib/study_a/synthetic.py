"""A seeded, synthetic Cityscapes-like stand-in written in the Study A layout, for runs at smoke scale.

It lets every Study A code path (split lists, readers, augmentation, hosts, the IM plug-in) run in minutes on
a CPU without the real download. It is written exactly as ``prepare_study_a`` writes the real data, so the
same reader (:func:`imlib.data.official.cityscapes.study_a_pairs`) serves both::

    leftImg8bit/{train,val}/<city>/<stem>_leftImg8bit.png       RGB uint8
    gtFine/{train,val}/<city>/<stem>_gtFine_labelTrainIds.png   ids 0..18, 255 void
    splits/<n_labeled>/{labeled,unlabeled}.txt                  U2PL-style lines
    splits/val.txt
    manifest.json

Scenes: a sky band, a building band with vegetation, poles and traffic signs, a road with a sidewalk strip,
cars and persons of several sizes, and on some images an ego-vehicle strip (void, 255). Every class has a base
colour, shifted per object and per image (brightness) and noised per pixel, so colour alone is not enough.
Nothing here is, or is presented as, Cityscapes.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

from imlib.data.official.cityscapes import TRAIN_NAMES
from imlib.data.prepare import FORMAT_VERSION, PREPARED_MARKER, check_destination

GENERATOR_VERSION = 1  # bump when the files a seed produces change: a folder of another version is rewritten
NAME = "synthetic-cityscapes"
TRAIN_CITIES = ("northtown", "southtown")
VAL_CITIES = ("easttown", "westtown")
DIVISORS = {"1/16": 16, "1/8": 8, "1/4": 4, "1/2": 2}

ROAD, SIDEWALK, BUILDING, POLE, SIGN, VEGETATION, SKY, PERSON, CAR = 0, 1, 2, 5, 7, 8, 10, 11, 13
VOID = 255
# Cityscapes' palette for the classes drawn here, so a rendered label map looks familiar
PALETTE = {ROAD: (128, 64, 128), SIDEWALK: (244, 35, 232), BUILDING: (70, 70, 70), POLE: (153, 153, 153),
           SIGN: (220, 220, 0), VEGETATION: (107, 142, 35), SKY: (70, 130, 180), PERSON: (220, 20, 60),
           CAR: (0, 0, 142), VOID: (15, 15, 15)}


def labeled_counts(n_train: int) -> dict[str, int]:
    """Split name -> labeled images (32 train images: 2, 4, 8, 16); at least 2 each."""
    return {name: max(2, n_train // d) for name, d in DIVISORS.items()}


def _stem(city: str, i: int) -> str:
    return f"{city}_{i:06d}_000019"


class _Canvas:
    """A label map and its colour map, painted together: every object gets its class's colour shifted a little."""

    def __init__(self, rng: np.random.Generator, height: int, width: int):
        self.rng, self.h, self.w = rng, height, width
        self.label = np.zeros((height, width), np.uint8)
        self.colour = np.zeros((height, width, 3), np.float32)

    def paint(self, cls: int, y0: int, y1: int, x0: int, x1: int, spread: float = 12.0) -> None:
        y0, y1, x0, x1 = max(0, y0), min(self.h, y1), max(0, x0), min(self.w, x1)
        if y1 <= y0 or x1 <= x0:
            return
        self.label[y0:y1, x0:x1] = cls
        self.colour[y0:y1, x0:x1] = np.asarray(PALETTE[cls], np.float32) + self.rng.normal(0, spread, 3)


def render(rng: np.random.Generator, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """One scene: (RGB uint8 (H, W, 3), train ids uint8 (H, W))."""
    c = _Canvas(rng, height, width)
    h, w = height, width
    sky = int(h * rng.uniform(0.15, 0.3))
    horizon = int(h * rng.uniform(0.5, 0.6))
    walk = horizon + max(2, int(h * rng.uniform(0.05, 0.12)))
    c.paint(SKY, 0, sky, 0, w, spread=8)
    c.paint(BUILDING, sky, horizon, 0, w)
    x = 0  # buildings of several shades, some taller into the sky
    while x < w:
        bw = int(rng.integers(w // 8, w // 3))
        c.paint(BUILDING, sky - int(rng.integers(0, sky + 1)), horizon, x, x + bw)
        x += bw
    for _ in range(int(rng.integers(1, 4))):  # trees
        cx, cw = int(rng.integers(0, w)), int(rng.integers(w // 16, w // 5))
        c.paint(VEGETATION, int(rng.integers(sky // 2, horizon - 2)), horizon, cx, cx + cw, spread=15)
    c.paint(ROAD, horizon, h, 0, w)
    c.paint(SIDEWALK, horizon, walk, 0, w)
    for _ in range(int(rng.integers(1, 4))):  # poles, most with a sign
        px, top = int(rng.integers(0, w - 2)), int(rng.integers(sky, horizon - 4))
        c.paint(POLE, top, walk, px, px + max(1, w // 64))
        if rng.random() < 0.7:
            sw = max(3, w // 24)
            c.paint(SIGN, top, top + sw, px - sw // 2, px + sw - sw // 2)
    for _ in range(int(rng.integers(1, 5))):  # cars, farther ones smaller
        bottom = int(rng.integers(walk + 1, h + 1))
        size = (bottom - horizon) / (h - horizon)
        ch, cw = max(3, int(h * 0.3 * size * rng.uniform(0.7, 1.2))), max(5, int(w * 0.25 * size * rng.uniform(0.7, 1.3)))
        cx = int(rng.integers(-cw // 2, w))
        c.paint(CAR, bottom - ch, bottom, cx, cx + cw, spread=25)
    for _ in range(int(rng.integers(0, 4))):  # persons, tall and thin
        bottom = int(rng.integers(horizon + 2, h + 1))
        size = (bottom - horizon) / (h - horizon)
        ph = max(4, int(h * 0.35 * size * rng.uniform(0.8, 1.2)))
        px = int(rng.integers(0, w))
        c.paint(PERSON, bottom - ph, bottom, px, px + max(2, ph // 3), spread=20)
    if rng.random() < 0.5:  # the ego vehicle's bonnet: void, dark
        c.paint(VOID, h - max(2, h // 12), h, 0, w, spread=4)
    image = c.colour * rng.uniform(0.7, 1.3) + rng.normal(0, 12, c.colour.shape)
    return np.clip(np.rint(image), 0, 255).astype(np.uint8), c.label


def _save(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, format="PNG")


def _arguments(seed: int, n_train: int, n_val: int, height: int, width: int) -> dict:
    if n_train < 4 or n_val < 1 or height < 32 or width < 32:
        raise ValueError(f"synthetic Cityscapes needs n_train >= 4, n_val >= 1 and a size of at least 32 x 32; "
                         f"got n_train={n_train}, n_val={n_val}, {height} x {width}")
    return {"generator": GENERATOR_VERSION, "seed": seed, "n_train": n_train, "n_val": n_val,
            "height": height, "width": width}


def _write(tmp: Path, args: dict) -> None:
    seed, h, w = args["seed"], args["height"], args["width"]
    entries: dict[str, list[str]] = {}
    for code, (part, n, cities) in enumerate((("train", args["n_train"], TRAIN_CITIES),
                                               ("val", args["n_val"], VAL_CITIES))):
        entries[part] = []
        for i in range(n):
            city = cities[i % len(cities)]
            stem = _stem(city, i)
            image, label = render(np.random.default_rng([seed, code, i]), h, w)
            rel = f"leftImg8bit/{part}/{city}/{stem}_leftImg8bit.png"
            _save(tmp / rel, image)
            _save(tmp / "gtFine" / part / city / f"{stem}_gtFine_labelTrainIds.png", label)
            entries[part].append(rel)
    order = np.random.default_rng([seed, 2]).permutation(len(entries["train"]))
    counts = labeled_counts(args["n_train"])
    splits: dict = {}
    for n in sorted(set(counts.values())):
        labeled = {entries["train"][i] for i in order[:n]}
        lists = {"labeled": sorted(labeled), "unlabeled": sorted(set(entries["train"]) - labeled)}
        for kind, lines in lists.items():
            (tmp / "splits" / str(n)).mkdir(parents=True, exist_ok=True)
            (tmp / "splits" / str(n) / f"{kind}.txt").write_text("\n".join(lines) + "\n")
        splits[str(n)] = {k: len(v) for k, v in lists.items()}
    (tmp / "splits" / "val.txt").write_text("\n".join(entries["val"]) + "\n")
    manifest = {"format": FORMAT_VERSION, "name": NAME, "study": "a", "synthetic": True,
                "stands_in_for": "cityscapes", **args,
                "protocol": "synthetic Cityscapes-like scenes in the Study A layout: 19 train ids, 255 ignored",
                "kind": "multiclass", "class_names": list(TRAIN_NAMES), "ignore_index": VOID,
                "fractions": counts, "splits": splits | {"val": len(entries["val"])}}
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1))
    (tmp / PREPARED_MARKER).write_text("written by imlib (synthetic Study A data): replaced when rewritten\n")


def _matches(root: Path, args: dict) -> bool:
    try:
        manifest = json.loads((root / "manifest.json").read_text())
    except (OSError, ValueError):
        return False
    return isinstance(manifest, dict) and all(manifest.get(k) == v for k, v in args.items())


def _into_place(root: Path, args: dict, reuse: bool) -> Path:
    """Write into a temporary folder, then rename it to ``root`` (replacing a folder imlib made there). With
    ``reuse``, a matching ``root`` that appeared meanwhile (another DDP rank wrote it) is kept, not replaced
    under the feet of its readers."""
    tmp = root.with_name(root.name + f".tmp{os.getpid()}")
    check_destination(root, tmp)
    if tmp.exists():
        shutil.rmtree(tmp)
    _write(tmp, args)
    try:
        if reuse and _matches(root, args):
            shutil.rmtree(tmp)
            return root
        if root.exists():
            shutil.rmtree(root)
        root.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, root)
    except OSError:  # another process put it there just now: the same bytes if the same arguments
        shutil.rmtree(tmp, ignore_errors=True)
        if not _matches(root, args):
            raise
    return root


def write_synthetic_cityscapes(root: Path, seed: int = 0, n_train: int = 32, n_val: int = 8, height: int = 64,
                               width: int = 128) -> Path:
    """Write the data set into ``root``, complete or not at all. The same arguments give the same bytes."""
    return _into_place(Path(root), _arguments(seed, n_train, n_val, height, width), reuse=False)


def ensure_synthetic_cityscapes(root: Path, seed: int = 0, n_train: int = 32, n_val: int = 8, height: int = 64,
                                width: int = 128) -> Path:
    """``root`` as it is when its manifest records these arguments (and this generator version), else written."""
    root, args = Path(root), _arguments(seed, n_train, n_val, height, width)
    return root if _matches(root, args) else _into_place(root, args, reuse=True)
