"""Time ``imlib prepare cityscapes`` at full resolution on generated 2048 x 1024 images in the official
layout, and project it to the real dataset's 3475 images (2975 train + 500 val).

    .venv/bin/python benchmarks/prepare.py [--train 16 --val 8]

The generated label images are blocky, so they compress better than real ones; the PNG decode of the
photographs dominates either way. Measured figures: benchmarks/README.md.
"""
from __future__ import annotations

import argparse
import hashlib
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from imlib.data.official import cityscapes

REAL = {"train": 2975, "val": 500}


def make(root: Path, n_train: int, n_val: int) -> None:
    rng = np.random.default_rng(0)
    for part, n in (("train", n_train), ("val", n_val)):
        for i in range(n):
            stem = f"city_{i:06d}_000019"
            img = rng.integers(0, 255, (1024, 2048, 3), dtype=np.uint8)  # noise: worst case for PNG
            ids = np.repeat(np.repeat(rng.integers(0, 34, (32, 64), dtype=np.uint8), 32, 0), 32, 1)
            for sub, name, a in (("leftImg8bit", "leftImg8bit", img), ("gtFine", "gtFine_labelIds", ids)):
                out = root / sub / part / "city" / f"{stem}_{name}.png"
                out.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(a).save(out, compress_level=1)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--train", type=int, default=16)
    ap.add_argument("--val", type=int, default=8)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make(root / "cs", a.train, a.val)
        n = a.train + a.val
        t = time.perf_counter()
        cityscapes.prepare(root / "cs", root / "b", root / "splits", strict_counts=False)
        b = time.perf_counter() - t
        lists = root / "u2pl"
        train = sorted(p.relative_to(root / "cs").as_posix() for p in (root / "cs/leftImg8bit/train").glob("*/*"))
        val = sorted(p.relative_to(root / "cs").as_posix() for p in (root / "cs/leftImg8bit/val").glob("*/*"))
        sums = {}
        for rel, entries in {"1/labeled.txt": train[:1], "1/unlabeled.txt": train[1:], "val.txt": val}.items():
            (lists / rel).parent.mkdir(parents=True, exist_ok=True)
            (lists / rel).write_text("\n".join(entries) + "\n")
            sums[rel] = hashlib.sha256((lists / rel).read_bytes()).hexdigest()
        t = time.perf_counter()
        cityscapes.prepare_study_a(root / "cs", root / "a", cache=root / "cache", u2pl_splits=lists, checksums=sums)
        a_s = time.perf_counter() - t
    scale = sum(REAL.values()) / n
    print(f"study-b: {b:.1f} s for {n} images ({1000 * b / n:.0f} ms/image) -> about {b * scale / 60:.0f} min for 3475")
    print(f"study-a: {a_s:.1f} s for {n} images ({1000 * a_s / n:.0f} ms/image) -> about {a_s * scale / 60:.0f} min for 3475")


if __name__ == "__main__":
    main()
