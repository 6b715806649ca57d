"""``imlib prepare folder``: people's own data in a plain folder layout, validated strictly.

Layout (file stems pair images with masks; any of png, jpg, jpeg, bmp, tif, tiff)::

    SRC/images/<stem>.<ext>          every image that has a mask
    SRC/masks/<stem>.png             binary (0/255 or 0/1) or class ids (multi-class)
      or SRC/masks/<channel>/<stem>.png   one 0/255 (or 0/1) mask per label channel (multi-label)
    SRC/unlabeled/<stem>.<ext>       optional: images without masks (join the unlabeled pool)
    SRC/classes.txt                  optional, multi-class: one "<id> <name>" per line, the palette

The task kind is given or inferred (channel folders: multi-label; a classes.txt: multi-class; values within
{0, 1} or {0, 255}: binary; otherwise multi-class). Multi-class ids are mapped to 1..K in sorted order, so
that class 0 stays reserved for IM pixels, as in the paper; mask value 255 is "ignore". Without classes.txt
the palette is the ids the masks hold; with it, ids stay fixed when a class is absent from the data, the
classes have names, and a value outside it is an error. Images and masks are resized to ``size`` x ``size``
(bilinear / nearest, aspect not kept, as the paper does for ISIC). The split (test, val, then the
labeled fraction of the rest, seeded) is written as plain lists under ``splits_dir/<name>/``; when
those lists exist, preparing again must find exactly the same files, or it fails and says which differ.

Every problem is an error that names the file: nothing is dropped silently.
"""
from __future__ import annotations

import hashlib
import json
import os
import random
from pathlib import Path
from typing import Any

import numpy as np

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
SPLITS = ("labeled", "unlabeled", "val", "test")
FORMAT_VERSION = 1


class DatasetError(ValueError):
    """A problem with the input data; the message names the file and what was expected."""


def _files(folder: Path) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for p in sorted(folder.iterdir()):
        if p.is_file() and p.suffix.lower() in IMAGE_EXTS:
            if p.stem in out:
                raise DatasetError(f"{folder}: two files share the stem {p.stem!r} ({out[p.stem].name}, {p.name})")
            out[p.stem] = p
    return out


def read_array(path: Path, mode: str | None = None) -> np.ndarray:
    """Decode an image fully (truncated files fail here, not later); ``mode`` 'L' or 'RGB' converts."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im.load()
            if mode is not None:
                im = im.convert(mode)
            return np.asarray(im)
    except (UnidentifiedImageError, OSError, SyntaxError) as e:
        raise DatasetError(f"{path}: unreadable or truncated image ({e})") from None


def _resize(a: np.ndarray, size: int | tuple[int, int], nearest: bool) -> np.ndarray:
    """Resize to ``size`` x ``size``, or to (width, height); bilinear, or nearest for labels."""
    from PIL import Image

    im = Image.fromarray(a)
    wh = (size, size) if isinstance(size, int) else tuple(size)
    return np.asarray(im.resize(wh, Image.NEAREST if nearest else Image.BILINEAR))


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _mask_channels(src: Path) -> list[str] | None:
    """Channel folder names when masks/ holds one folder per label channel, else None."""
    subdirs = sorted(p.name for p in (src / "masks").iterdir() if p.is_dir())
    return subdirs or None


def scan(src: Path) -> tuple[dict[str, Path], dict[str, Any], dict[str, Path]]:
    """Pair images with masks; errors for missing folders and unpaired files (listing them)."""
    src = Path(src)
    for sub in ("images", "masks"):
        if not (src / sub).is_dir():
            raise DatasetError(f"{src / sub}: missing folder (expected {src}/images/ and {src}/masks/)")
    images = _files(src / "images")
    if not images:
        raise DatasetError(f"{src / 'images'}: no images ({', '.join(IMAGE_EXTS)})")
    channels = _mask_channels(src)
    if channels:
        masks: dict[str, Any] = {}
        for ch in channels:
            files = _files(src / "masks" / ch)
            _check_pairs(images, files, src / "images", src / "masks" / ch)
            for stem, p in files.items():
                masks.setdefault(stem, {})[ch] = p
    else:
        masks = _files(src / "masks")
        _check_pairs(images, masks, src / "images", src / "masks")
    unlabeled = _files(src / "unlabeled") if (src / "unlabeled").is_dir() else {}
    both = sorted(set(unlabeled) & set(images))
    if both:
        raise DatasetError(f"{src / 'unlabeled'}: stems also in images/ (labeled): {', '.join(both[:10])}")
    return images, masks, unlabeled


def _check_pairs(images: dict, masks: dict, img_dir: Path, mask_dir: Path) -> None:
    no_mask = sorted(set(images) - set(masks))
    no_image = sorted(set(masks) - set(images))
    if no_mask or no_image:
        parts = []
        if no_mask:
            parts.append(f"images without a mask in {mask_dir}: {', '.join(no_mask[:10])}"
                         + (f" (+{len(no_mask) - 10} more)" if len(no_mask) > 10 else ""))
        if no_image:
            parts.append(f"masks without an image in {img_dir}: {', '.join(no_image[:10])}"
                         + (f" (+{len(no_image) - 10} more)" if len(no_image) > 10 else ""))
        raise DatasetError("; ".join(parts))


def check_same_size(mask: np.ndarray, image: np.ndarray, mask_path: Path, image_path: Path) -> None:
    if mask.shape[:2] != image.shape[:2]:
        raise DatasetError(f"{mask_path}: mask is {mask.shape[1]}x{mask.shape[0]}, its image {image_path} is "
                           f"{image.shape[1]}x{image.shape[0]}")


def seeded_order(stems, seed: int) -> list[str]:
    """The stems sorted, then shuffled with ``seed``: every split of this project starts from it."""
    order = sorted(stems)
    random.Random(seed).shuffle(order)
    return order


def share(fraction: float, n: int) -> int:
    """How many of ``n`` items a split fraction takes (at least one)."""
    return max(1, round(fraction * n))


def _binary(mask: np.ndarray, path: Path) -> np.ndarray:
    values = np.unique(mask)
    if set(values.tolist()) <= {0, 255}:
        return (mask == 255).astype(np.uint8)
    if set(values.tolist()) <= {0, 1}:
        return mask.astype(np.uint8)
    bad = sorted(set(values.tolist()) - {0, 1, 255})
    raise DatasetError(f"{path}: a binary mask must hold 0/255 (or 0/1); found other values {bad[:20]}")


def read_classes(path: Path) -> dict[int, str]:
    """``classes.txt``: one ``<id> <name>`` per line (blank lines and ``#`` comments allowed), ids 0..254
    (255 means ignore). It fixes a multi-class task's palette and names its classes."""
    classes: dict[int, str] = {}
    for n, line in enumerate(Path(path).read_text().splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        head, _, name = line.partition(" ")
        if not head.isdigit() or not name.strip() or not 0 <= int(head) <= 254:
            raise DatasetError(f"{path}:{n}: expected '<id> <name>' with an id in 0..254, got {line!r}")
        if int(head) in classes:
            raise DatasetError(f"{path}:{n}: class id {head} listed twice")
        classes[int(head)] = name.strip()
    if not classes:
        raise DatasetError(f"{path}: no classes listed (expected one '<id> <name>' per line)")
    return classes


def _palette_check(mask: np.ndarray, path: Path, classes: dict[int, str]) -> None:
    bad = sorted(set(np.unique(mask).tolist()) - set(classes) - {255})
    if bad:
        raise DatasetError(f"{path}: mask values outside the classes of classes.txt "
                           f"({sorted(classes)} and 255 = ignore): {bad[:20]}")


def infer_kind(masks: dict[str, Any]) -> str:
    first = next(iter(masks.values()))
    if isinstance(first, dict):
        return "multilabel"
    values: set[int] = set()
    for p in masks.values():
        values |= set(np.unique(read_array(p, "L")).tolist())
        if len(values - {0, 1, 255}) > 0:
            return "multiclass"
    return "binary"


def prepare_folder(src: str | Path, name: str, dst: str | Path | None = None, kind: str | None = None,
                   size: int = 256, labeled_fraction: float = 0.1, val_fraction: float = 0.1,
                   test_fraction: float = 0.2, seed: int = 42, splits_dir: str | Path = "data/splits",
                   in_channels: int | None = None) -> Path:
    """Validate ``src``, resize, split and write ``dst`` (default ``data/prepared/<name>``)."""
    src = Path(src)
    dst = Path(dst) if dst is not None else Path("data/prepared") / name
    if size % 16:
        raise DatasetError(f"--size must be a multiple of 16 (the U-Net halves it 4 times), got {size}")
    images, masks, unlabeled_only = scan(src)
    classes = read_classes(src / "classes.txt") if (src / "classes.txt").is_file() else None
    if classes is not None and kind not in (None, "multiclass"):
        raise DatasetError(f"{src / 'classes.txt'}: a palette of class ids is for a multi-class task, "
                           f"but the kind is {kind}")
    kind = kind or ("multiclass" if classes is not None else infer_kind(masks))
    if kind not in ("binary", "multiclass", "multilabel"):
        raise DatasetError(f"task kind must be binary, multiclass or multilabel, got {kind!r}")
    channels = _mask_channels(src)
    if kind == "multilabel" and not channels:
        raise DatasetError(f"{src / 'masks'}: a multi-label task needs one folder per label channel")
    if kind != "multilabel" and channels:
        raise DatasetError(f"{src / 'masks'}: channel folders {channels} found but kind is {kind}")

    # channels of the input: grey when every image is single-channel, else RGB
    if in_channels is None:
        from PIL import Image

        modes = set()
        for p in list(images.values()) + list(unlabeled_only.values()):
            try:
                with Image.open(p) as im:
                    modes.add(im.mode)
            except OSError as e:
                raise DatasetError(f"{p}: unreadable image ({e})") from None
        in_channels = 1 if modes <= {"L", "I;16", "I", "1"} else 3
    img_mode = "L" if in_channels == 1 else "RGB"

    stems = sorted(images)
    arrays, labels, class_values = [], [], set()
    raw_masks = {}
    for stem in stems:
        img = read_array(images[stem], img_mode)
        if kind == "multilabel":
            chans = []
            for ch in channels:
                m = read_array(masks[stem][ch], "L")
                check_same_size(m, img, masks[stem][ch], images[stem])
                chans.append(_binary(m, masks[stem][ch]))
            lab = np.stack(chans)
        else:
            m = read_array(masks[stem], "L")
            check_same_size(m, img, masks[stem], images[stem])
            if kind == "binary":
                lab = _binary(m, masks[stem])[None]
            else:
                if classes is not None:
                    _palette_check(m, masks[stem], classes)
                raw_masks[stem] = m
                class_values |= set(np.unique(m).tolist())
                lab = None
        arrays.append(_resize(img, size, nearest=False))
        labels.append(lab)
    if kind == "multiclass":
        ids = sorted(classes) if classes is not None else sorted(class_values - {255})
        if len(ids) > 254:
            raise DatasetError(f"{src / 'masks'}: {len(ids)} distinct class ids; at most 254 are supported")
        lut = np.full(256, 255, np.uint8)
        lut[ids] = np.arange(1, len(ids) + 1)
        labels = [lut[raw_masks[s]][None] for s in stems]
        class_names = ["IM"] + [classes[v] if classes else f"class {v}" for v in ids]
    elif kind == "binary":
        class_names = ["foreground"]
    else:
        class_names = list(channels)
    labels = [np.stack([_resize(ch, size, nearest=True) for ch in lab]) for lab in labels]
    extra = {s: _resize(read_array(p, img_mode), size, nearest=False) for s, p in unlabeled_only.items()}

    split = make_split(stems, labeled_fraction, val_fraction, test_fraction, seed)
    split["unlabeled"] = sorted(split["unlabeled"] + list(unlabeled_only))
    split = verify_or_write_split(Path(splits_dir) / name, split)

    def stack(names: list[str]) -> tuple[np.ndarray, np.ndarray]:
        idx = {s: i for i, s in enumerate(stems)}
        x, y = [], []
        ignore = np.full((labels[0].shape[0], size, size), 255, np.uint8)
        for s in names:
            if s in idx:
                x.append(arrays[idx[s]])
                y.append(labels[idx[s]])
            else:  # an image of unlabeled/: no mask, every pixel ignored
                x.append(extra[s])
                y.append(ignore)
        x = np.stack(x)
        x = x[:, None] if x.ndim == 3 else x.transpose(0, 3, 1, 2)
        return np.ascontiguousarray(x, np.uint8), np.stack(y).astype(np.uint8), names

    manifest = {
        "format": FORMAT_VERSION, "name": name, "source": str(src.resolve()), "kind": kind,
        "in_channels": in_channels, "class_names": class_names, "size": size, "seed": seed,
        "labeled_fraction": labeled_fraction, "val_fraction": val_fraction, "test_fraction": test_fraction,
        "splits": {k: len(v) for k, v in split.items()},
        "class_ids": (ids if kind == "multiclass" else None),
        "files": file_manifest(src, list(images.values()) + list(unlabeled_only.values())
                               + ([src / "classes.txt"] if classes is not None else [])
                               + [q for m in masks.values() for q in (m.values() if isinstance(m, dict) else [m])]),
    }
    return write_prepared(dst, {part: stack(split[part]) for part in SPLITS}, manifest)


def file_manifest(root: Path, paths: list[Path]) -> dict[str, dict]:
    """Size and SHA-256 of every source file, by path relative to ``root``."""
    return {str(p.relative_to(root)): {"sha256": sha256_of(p), "bytes": p.stat().st_size} for p in sorted(paths)}


def write_prepared(dst: Path, parts: dict[str, tuple[np.ndarray, np.ndarray, list[str]]], manifest: dict) -> Path:
    """Write one ``<split>.npz`` per split and ``manifest.json`` into a temporary folder, then move it into
    place, so that a prepared dataset is never half-written."""
    dst = Path(dst)
    dst_tmp = dst.with_name(dst.name + f".tmp{os.getpid()}")
    dst_tmp.mkdir(parents=True, exist_ok=True)
    for part, (x, y, names) in parts.items():
        np.savez(dst_tmp / f"{part}.npz", images=x, labels=y, stems=np.array(names))
    (dst_tmp / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return move_into_place(dst_tmp, dst)


def move_into_place(tmp: Path, dst: Path) -> Path:
    """Replace ``dst`` by the finished folder ``tmp``: a prepared dataset is complete or absent."""
    import shutil

    if dst.exists() or dst.is_symlink():
        shutil.rmtree(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    os.replace(tmp, dst)
    return dst


def make_split(stems: list[str], labeled_fraction: float, val_fraction: float, test_fraction: float,
               seed: int) -> dict[str, list[str]]:
    """Seeded: shuffle, take test, then val, then the labeled fraction of the rest; every part non-empty."""
    order = seeded_order(stems, seed)
    n = len(order)
    n_test, n_val = share(test_fraction, n), share(val_fraction, n)
    rest = order[n_test + n_val:]
    n_lab = share(labeled_fraction, len(rest))
    split = {"test": order[:n_test], "val": order[n_test:n_test + n_val], "labeled": rest[:n_lab],
             "unlabeled": rest[n_lab:]}
    empty = [k for k, v in split.items() if not v]
    if empty:
        raise DatasetError(f"{n} labeled images are too few for the split: empty {', '.join(empty)} "
                           f"(test {test_fraction}, val {val_fraction}, labeled {labeled_fraction})")
    return {k: sorted(v) for k, v in split.items()}


def set_difference(listed: set[str], here: set[str]) -> str:
    """What differs between the files a list names and the files found (the first ten of each side)."""
    return (f"listed but not here: {sorted(listed - here)[:10]}; "
            f"here but not listed: {sorted(here - listed)[:10]}")


def verify_or_write_split(folder: Path, split: dict[str, list[str]]) -> dict[str, list[str]]:
    """The split to use: the lists already under ``folder`` (committed) when they exist, after checking
    that they name exactly these files; otherwise ``split``, written there."""
    if all((folder / f"{k}.txt").exists() for k in SPLITS):
        committed = {k: (folder / f"{k}.txt").read_text().split() for k in SPLITS}
        have = {s for v in committed.values() for s in v}
        here = {s for v in split.values() for s in v}
        if have != here:
            raise DatasetError(f"{folder}: the committed split names other files than this data has "
                               f"({set_difference(have, here)}); delete {folder} to make a new split")
        return committed
    folder.mkdir(parents=True, exist_ok=True)
    for k in SPLITS:
        tmp = folder / f".{k}.txt.tmp"
        tmp.write_text("\n".join(split[k]) + "\n")
        os.replace(tmp, folder / f"{k}.txt")
    return split
