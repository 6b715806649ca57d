"""``imlib prepare folder``: people's own data in a plain folder layout, validated strictly.

Layout (file stems pair images with masks; any of png, jpg, jpeg, bmp, tif, tiff)::

    SRC/images/<stem>.<ext>            every image that has a mask
    SRC/masks/<stem>.png               binary (0/255 or 0/1) or class ids
      or SRC/masks/<channel>/<stem>.png  multi-label: one 0/255 (or 0/1) mask
                                         per label channel
    SRC/unlabeled/<stem>.<ext>         optional: images without masks
                                       (they join the unlabeled pool)
    SRC/classes.txt                    optional, multi-class: one "<id> <name>"
                                       per line, the palette ("ignore <id>": void)
    SRC/instances/<stem>.png           optional, cells: 16-bit instance maps;
                                       the position discs are drawn from them

Hidden files (``._<name>`` resource forks and ``.DS_Store`` that macOS leaves) are not images and are passed
over. Masks are PNG (or another lossless format) with one value per pixel: a JPEG mask or a colour one is an
error. The task kind is given or inferred (channel folders: multi-label; a classes.txt: multi-class; values
within {0, 1} or {0, 255}: binary; class ids: multi-class), never from dirty masks: see :func:`infer_kind`.
A binary task whose masks are all background is an error. Multi-class ids are mapped to 1..K in sorted order, so
that class 0 stays reserved for IM pixels, as in the paper; mask value 255 is "ignore". Without classes.txt
the palette is the ids the masks hold; with it, ids stay fixed when a class is absent from the data, the
classes have names, and a value outside it is an error. Images and masks are resized to ``size`` x ``size``
(bilinear / nearest, aspect not kept, as the paper does for ISIC). The split (test, val, then the
labeled fraction of the rest, seeded), or the one the dataset ships (``--split-file``), is kept as plain
lists inside the prepared dataset (``<dst>/split/``; ``splits_dir``: elsewhere); when those lists exist,
preparing again must find exactly the same files, or it fails and says which differ.

Every problem is an error that names the file: nothing is dropped silently.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from imlib.data.prepare import Part, labeled_split, prepare_dataset, seeded_order, share
from imlib.data.sources import (IMAGE_EXTS, DatasetError, Pairs, binary_mask, check_pairs, check_same_size,
                                image_files, open_image, read_array, read_ids, read_mask, resize, sha256_of)

KINDS = ("binary", "multiclass", "multilabel")


# --- scan: pair the files ---------------------------------------------------------------------------------

def _mask_channels(src: Path) -> list[str] | None:
    """Channel folder names when masks/ holds one folder per label channel, else None."""
    subdirs = sorted(p.name for p in (src / "masks").iterdir() if p.is_dir())
    return subdirs or None


KNOWN_FOLDERS = ("images", "masks", "unlabeled", "instances")
CELL_FOLDERS = ("instance", "position", "positions")  # shipped with cell datasets under other names


def check_no_other_folders(src: Path) -> None:
    """A folder ``prepare folder`` does not read is an error, never silently left out: a cell dataset's
    ``position/`` would otherwise be ignored while a binary task is built from ``masks/`` alone. Hidden
    folders (``.name``) are not data."""
    other = sorted(d.name for d in src.iterdir() if d.is_dir() and not d.name.startswith(".")
                   and d.name not in KNOWN_FOLDERS)
    if not other:
        return
    cells = [d for d in other if d.lower() in CELL_FOLDERS]
    if cells:
        raise DatasetError(f"{src}: folder(s) {', '.join(f'{d}/' for d in cells)} are not read by `imlib prepare "
                           f"folder` (it reads images/, masks/, unlabeled/, instances/); for the cell-count task put "
                           f"one 0/255 mask per channel in masks/alive/ (and masks/dead/) and either the position "
                           f"discs in masks/position/ or the 16-bit instance maps in instances/, then move "
                           f"{', '.join(f'{d}/' for d in cells)} out of {src}")
    raise DatasetError(f"{src}: folder(s) {', '.join(f'{d}/' for d in other)} are not read by `imlib prepare "
                       f"folder` (it reads images/, masks/, unlabeled/, instances/ and classes.txt); move them out "
                       f"of {src}")


def scan(src: Path) -> tuple[dict[str, Path], dict[str, Any], dict[str, Path]]:
    """Pair images with masks; errors for missing folders and unpaired files (listing them)."""
    src = Path(src)
    for sub in ("images", "masks"):
        if not (src / sub).is_dir():
            raise DatasetError(f"{src / sub}: missing folder (expected {src}/images/ and {src}/masks/)")
    check_no_other_folders(src)
    if (src / "instances").is_dir() and (src / "masks" / "position").is_dir():
        raise DatasetError(f"{src}: both masks/position/ and instances/ give the cell positions; keep one of them")
    images = image_files(src / "images")
    if not images:
        raise DatasetError(f"{src / 'images'}: no images ({', '.join(IMAGE_EXTS)})")
    channels = _mask_channels(src)
    if channels:
        masks: dict[str, Any] = {}
        for ch in channels:
            files = image_files(src / "masks" / ch)
            check_pairs(images, files, src / "images", src / "masks" / ch)
            for stem, p in files.items():
                masks.setdefault(stem, {})[ch] = p
    else:
        masks = image_files(src / "masks")
        check_pairs(images, masks, src / "images", src / "masks")
    unlabeled = image_files(src / "unlabeled") if (src / "unlabeled").is_dir() else {}
    both = sorted(set(unlabeled) & set(images))
    if both:
        raise DatasetError(f"{src / 'unlabeled'}: stems also in images/ (labeled): {', '.join(both[:10])}")
    return images, masks, unlabeled


# --- decide the kind --------------------------------------------------------------------------------------

IGNORE = "<ignore>"  # the name read_classes gives a void id: its pixels become 255 (never trained or scored)


def read_classes(path: Path) -> dict[int, str]:
    """``classes.txt``: one ``<id> <name>`` per line (blank lines and ``#`` comments allowed), ids 0..254
    (255 means ignore). It fixes a multi-class task's palette and names its classes. A line
    ``ignore <id> [<id> ...]`` declares void ids (e.g. a street scene's "void" 11): their pixels are ignored
    like 255, neither trained on nor scored, and they are not classes (named ``IGNORE`` in the result)."""
    classes: dict[int, str] = {}
    for n, line in enumerate(Path(path).read_text().splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        head, _, name = line.partition(" ")
        if head == "ignore":
            ids = name.split()
            if not ids or not all(i.isdigit() and 0 <= int(i) <= 254 for i in ids):
                raise DatasetError(f"{path}:{n}: expected 'ignore <id> [<id> ...]' with ids in 0..254, got {line!r}")
            for i in map(int, ids):
                if i in classes:
                    raise DatasetError(f"{path}:{n}: class id {i} listed twice")
                classes[i] = IGNORE
            continue
        if not head.isdigit() or not name.strip() or not 0 <= int(head) <= 254:
            raise DatasetError(f"{path}:{n}: expected '<id> <name>' with an id in 0..254, got {line!r}")
        if int(head) in classes:
            raise DatasetError(f"{path}:{n}: class id {head} listed twice")
        classes[int(head)] = name.strip()
    if not any(v != IGNORE for v in classes.values()):
        raise DatasetError(f"{path}: no classes listed (expected one '<id> <name>' per line)")
    return classes


MAX_INFERRED_CLASSES = 64  # more distinct values look like grey levels, not class ids


def _is_binary(values) -> bool:
    return set(values) <= {0, 255} or set(values) <= {0, 1}


def _listed_values(paths: list[Path], counts: dict[Path, dict[int, int]]) -> str:
    """'a.png [128], b.png [3, 7]' for the first few masks, with the values that are not binary."""
    shown = [f"{p.name} {sorted(set(counts[p]) - {0, 1, 255})[:5]}" for p in paths[:5]]
    return ", ".join(shown) + (f" (+{len(paths) - 5} more)" if len(paths) > 5 else "")


def _mask_counts(paths: list[Path]) -> dict[Path, dict[int, int]]:
    """Value -> pixel count of every mask."""
    counts = {}
    for p in paths:
        values, n = np.unique(read_mask(p), return_counts=True)
        counts[p] = dict(zip(values.tolist(), n.tolist()))
    return counts


def infer_kind(masks: dict[str, Any]) -> str:
    """Channel folders: multi-label; masks within {0, 255} or {0, 1}: binary; class ids: multi-class. Dirty
    masks never decide the kind silently: most masks binary and some not, more distinct values than class ids
    plausibly have, or a value 255 (then 'ignore') outweighing every class is an error saying what was found
    and how to state the kind (--kind, classes.txt)."""
    first = next(iter(masks.values()))
    if isinstance(first, dict):
        return "multilabel"
    counts = _mask_counts([masks[s] for s in sorted(masks)])
    dirty = [p for p, c in counts.items() if not _is_binary(c)]
    if not dirty:
        return "binary"
    where = first.parent
    if 2 * len(dirty) <= len(counts):
        raise DatasetError(f"{where}: {len(counts) - len(dirty)} of {len(counts)} masks are binary (0/255 or 0/1) "
                           f"but these hold other values: {_listed_values(dirty, counts)}; fix those masks, or "
                           f"pass --kind multiclass (or add classes.txt) if the values are class ids")
    total: dict[int, int] = {}
    for c in counts.values():
        for v, n in c.items():
            total[v] = total.get(v, 0) + n
    ids = sorted(set(total) - {255})
    if len(ids) > MAX_INFERRED_CLASSES:
        raise DatasetError(f"{where}: {len(ids)} distinct mask values (e.g. {ids[:10]}) are too many to be class ids "
                           f"(grey levels like these come from resizing, anti-aliasing or lossy saving); masks hold "
                           f"one class id per pixel; if these are class ids, pass --kind multiclass or list them in "
                           f"classes.txt")
    others = sum(n for v, n in total.items() if v not in (0, 255))
    if total.get(255, 0) > others:
        raise DatasetError(f"{where}: value 255 would mean 'ignore' in a multi-class task, but it covers more pixels "
                           f"than every other non-zero value together ({total[255]} vs {others}): these look like "
                           f"0/255 masks with stray values ({_listed_values(dirty, counts)}); fix those masks, or "
                           f"pass --kind multiclass if 255 is 'ignore'")
    return "multiclass"


def decide_kind(src: Path, kind: str | None, masks: dict[str, Any]) -> tuple[str, dict[int, str] | None]:
    """The task kind (given, or inferred from the layout and the masks) and the classes.txt palette, if any;
    a kind the layout contradicts is an error."""
    classes = read_classes(src / "classes.txt") if (src / "classes.txt").is_file() else None
    if classes is not None and kind not in (None, "multiclass"):
        raise DatasetError(f"{src / 'classes.txt'}: a palette of class ids is for a multi-class task, "
                           f"but the kind is {kind}")
    kind = kind or ("multiclass" if classes is not None else infer_kind(masks))
    if kind not in KINDS:
        raise DatasetError(f"task kind must be binary, multiclass or multilabel, got {kind!r}")
    channels = _mask_channels(src)
    if kind == "multilabel" and not channels:
        raise DatasetError(f"{src / 'masks'}: a multi-label task needs one folder per label channel")
    if kind != "multilabel" and channels:
        raise DatasetError(f"{src / 'masks'}: channel folders {channels} found but kind is {kind}")
    return kind, classes


def input_channels(paths: list[Path]) -> int:
    """1 (grey) when every image is single-channel, else 3 (RGB)."""
    modes = set()
    for p in paths:
        with open_image(p) as im:
            modes.add(im.mode)
    return 1 if modes <= {"L", "I;16", "I", "1"} else 3


# --- read the labels, per kind ----------------------------------------------------------------------------

def _palette_check(mask: np.ndarray, path: Path, classes: dict[int, str]) -> None:
    bad = sorted(set(np.unique(mask).tolist()) - set(classes) - {255})
    if bad:
        raise DatasetError(f"{path}: mask values outside the classes of classes.txt "
                           f"({sorted(classes)} and 255 = ignore): {bad[:20]}")


def read_labels(kind: str, mask: Path | dict[str, Path], image: np.ndarray, image_path: Path,
                classes: dict[int, str] | None) -> np.ndarray:
    """One image's labels at full size: (channels, H, W) 0/1 for binary and multi-label; for multi-class the
    (H, W) class ids as found (checked against classes.txt), mapped to 1..K once every mask is read."""
    if kind == "multilabel":
        chans = []
        for path in mask.values():
            m = read_mask(path)
            check_same_size(m, image, path, image_path)
            chans.append(binary_mask(m, path))
        return np.stack(chans)
    m = read_mask(mask)
    check_same_size(m, image, mask, image_path)
    if kind == "binary":
        return binary_mask(m, mask)[None]
    if classes is not None:
        _palette_check(m, mask, classes)
    return m


def read_labeled(images: dict[str, Path], masks: dict[str, Any], kind: str, classes: dict[int, str] | None,
                 mode: str, size: int) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Every labeled image, resized, and its labels at full size (:func:`read_labels`), in stem order."""
    arrays, labels = {}, {}
    for stem in sorted(images):
        img = read_array(images[stem], mode)
        labels[stem] = read_labels(kind, masks[stem], img, images[stem], classes)
        arrays[stem] = resize(img, size, nearest=False)
    return arrays, labels


def check_foreground(labels: dict[str, np.ndarray], mask_dir: Path) -> None:
    """A binary task whose masks are all background is an error: with no foreground pixel anywhere there is
    nothing for a segmenter to learn (and every score would be vacuous)."""
    if not any(lab.any() for lab in labels.values()):
        raise DatasetError(f"{mask_dir}: every mask is all background (0); a binary task needs foreground pixels "
                           f"(255 or 1) somewhere to train a segmenter")


POSITION_LOSS_WARN = 0.05  # share of position discs the erosion may delete before prepare warns


def position_size_warning(labels: dict[str, np.ndarray], channel: int, size: int) -> list[str]:
    """A warning when the prepared size shrinks position discs below what the 3x3 erosion before the
    centroids keeps (radius 1-2 px): those cells vanish from the cell count (MCCE) of every model."""
    from imlib.cell_positions import blobs_lost_to_erosion

    lost = total = 0
    for lab in labels.values():
        gone, n = blobs_lost_to_erosion(lab[channel] > 0)
        lost, total = lost + gone, total + n
    if total and lost / total > POSITION_LOSS_WARN:
        return [f"warning: at --size {size}, {lost} of {total} position discs ({100 * lost / total:.0f} %) are too "
                f"small for the 3x3 erosion the cell count applies before the centroids, so those cells are not "
                f"counted: prepare at a larger --size"]
    return []


def map_classes(kind: str, labels: dict[str, np.ndarray], classes: dict[int, str] | None,
                src: Path) -> tuple[dict[str, np.ndarray], list[str], list[int] | None]:
    """The labels as stored, the class names and (multi-class) the ids found or declared. Multi-class ids map
    to 1..K in sorted order (class 0 stays the IM class, 255 stays ignore): the palette of classes.txt, else
    the ids the masks hold. Binary: one channel, 'foreground'; multi-label: the channels, named by folder."""
    if kind == "binary":
        return labels, ["foreground"], None
    if kind == "multilabel":
        return labels, list(_mask_channels(src)), None
    found = set().union(*(set(np.unique(m).tolist()) for m in labels.values()))
    ids = sorted(k for k, v in classes.items() if v != IGNORE) if classes is not None else sorted(found - {255})
    if len(ids) > 254:
        raise DatasetError(f"{src / 'masks'}: {len(ids)} distinct class ids; at most 254 are supported")
    lut = np.full(256, 255, np.uint8)  # what is not a class (255, declared void ids) is ignored
    lut[ids] = np.arange(1, len(ids) + 1)
    names = ["IM"] + [classes[v] if classes else f"class {v}" for v in ids]
    return {s: lut[m][None] for s, m in labels.items()}, names, ids


# --- cells given as instance maps -------------------------------------------------------------------------

def check_instances_layout(src: Path, kind: str, channels: list[str] | None) -> None:
    """``instances/`` gives the positions of a cell-count task (alive, dead, position): it needs the channel
    folders with ``alive`` (and no ``masks/position/``: two sources of positions would disagree, see ``scan``)."""
    if kind != "multilabel" or not channels or "alive" not in channels:
        raise DatasetError(f"{src / 'instances'}: instance maps give the cell positions of a cell-count task; put "
                           f"the 0/255 cell masks in masks/alive/ (and masks/dead/), one folder per channel, or move "
                           f"instances/ out of {src}")


def read_instance_positions(images: dict[str, Path], src: Path, size: int) -> tuple[dict[str, np.ndarray], list[Path], str]:
    """The position channel of every labeled image drawn from its instance map (``instances/<stem>.png``,
    0 = background, one id per cell, 8 or 16 bit): a disc at each cell's centroid with the paper's radius
    clamp(floor(d_min / 4), 3, 8), drawn at the prepared size (so no disc is too small for the erosion before
    the centroids); the files read; and a note of the counts (with a warning when discs merge)."""
    from imlib.cell_positions import disc_radii, draw_discs, instance_centroids, position_centroids

    files = image_files(src / "instances")
    check_pairs(images, files, src / "images", src / "instances")
    positions, cells, seen = {}, 0, 0
    for stem in sorted(images):
        ids = read_ids(files[stem])
        with open_image(images[stem]) as im:
            if ids.shape != (im.height, im.width):
                raise DatasetError(f"{files[stem]}: instance map is {ids.shape[1]}x{ids.shape[0]}, its image "
                                   f"{images[stem]} is {im.width}x{im.height}")
        c = instance_centroids(ids)
        c = np.rint(c * (np.array([size, size]) / np.array(ids.shape))).astype(np.int64).clip(0, size - 1)
        disc = draw_discs(c, disc_radii(c), (size, size))
        positions[stem] = disc.astype(np.uint8)[None]
        cells, seen = cells + len(c), seen + len(position_centroids(disc))
    note = (f"positions from instances/: a disc at each of {cells} cells' centroids, radius clamp(d_min/4, 3, 8) "
            f"drawn at {size} px (the paper's rule)")
    if cells and (cells - seen) / cells > POSITION_LOSS_WARN:
        note += (f"; warning: at --size {size} neighbouring discs merge, so the cell count sees {seen} of {cells} "
                 f"cells: prepare at a larger --size")
    return positions, sorted(files.values()), note


# --- read the whole folder --------------------------------------------------------------------------------

@dataclass
class Folder:
    """A folder read and checked: every image resized (``images``, also those of unlabeled/), the labels of
    the labeled ones (``labels``), what the manifest says of the task, and every file read (``files``)."""
    kind: str
    in_channels: int
    class_names: list[str]
    class_ids: list[int] | None
    ignore_ids: list[int]  # mask values declared void in classes.txt (stored as 255)
    size: int
    images: dict[str, np.ndarray]
    labels: dict[str, np.ndarray]
    unlabeled: list[str]
    files: list[Path]
    notes: list[str]  # what was decided for the user (printed by the CLI, kept in the manifest)

    def stack(self, names: list[str]) -> Part:
        """The arrays of one split part; an image of unlabeled/ has no mask: every pixel ignored (255)."""
        ignore = np.full((next(iter(self.labels.values())).shape[0], self.size, self.size), 255, np.uint8)
        x = np.stack([self.images[s] for s in names])
        x = x[:, None] if x.ndim == 3 else x.transpose(0, 3, 1, 2)
        y = np.stack([self.labels.get(s, ignore) for s in names])
        return np.ascontiguousarray(x, np.uint8), y.astype(np.uint8), names


def cell_channels(kind: str, labels: dict[str, np.ndarray], class_names: list[str],
                  notes: list[str]) -> tuple[dict[str, np.ndarray], list[str]]:
    """HeLa's cell count needs alive, dead and position channels: without masks/dead every cell is alive (an
    all-zero dead channel is added); other multi-label channel sets are scored by mIoU. Each decision is
    appended to ``notes``."""
    if kind == "multilabel" and set(class_names) == {"alive", "position"}:
        labels = {s: np.concatenate([lab, np.zeros_like(lab[:1])]) for s, lab in labels.items()}
        class_names = class_names + ["dead"]
        notes.append("masks/dead/ is absent: an all-zero dead channel was added (every cell alive), so the task "
                     "is scored by the cell-count error MCCE like HeLa")
    elif kind == "multilabel" and not {"alive", "position"} <= set(class_names):
        notes.append(f"channels {', '.join(class_names)}: not HeLa's alive/dead/position, so the task is scored "
                     f"by mIoU (name the folders masks/alive, masks/dead, masks/position for the cell-count MCCE)")
    return labels, class_names


def read_folder(src: Path, kind: str | None, size: int, in_channels: int | None) -> Folder:
    """Scan, decide the kind, read and check every image and mask, map the classes, resize."""
    images, masks, unlabeled = scan(src)
    kind, classes = decide_kind(src, kind, masks)
    if (src / "instances").is_dir():
        check_instances_layout(src, kind, _mask_channels(src))
    if in_channels is None:
        in_channels = input_channels(list(images.values()) + list(unlabeled.values()))
    mode = "L" if in_channels == 1 else "RGB"
    arrays, labels = read_labeled(images, masks, kind, classes, mode, size)
    if kind == "binary":
        check_foreground(labels, src / "masks")
    labels, class_names, ids = map_classes(kind, labels, classes, src)
    notes = []
    labels = {s: np.stack([resize(ch, size, nearest=True) for ch in lab]) for s, lab in labels.items()}
    instance_files: list[Path] = []
    if (src / "instances").is_dir():
        positions, instance_files, note = read_instance_positions(images, src, size)
        labels = {s: np.concatenate([lab, positions[s]]) for s, lab in labels.items()}
        class_names = class_names + ["position"]
        notes.append(note)
    elif kind == "multilabel" and "position" in class_names:
        notes += position_size_warning(labels, class_names.index("position"), size)
    labels, class_names = cell_channels(kind, labels, class_names, notes)
    arrays.update({s: resize(read_array(p, mode), size, nearest=False) for s, p in unlabeled.items()})
    files = (Pairs(images, masks).files() + list(unlabeled.values()) + instance_files
             + ([src / "classes.txt"] if classes is not None else []))
    if kind == "multiclass" and classes is None:
        notes.append(f"no classes.txt: the classes are the ids the masks hold ({', '.join(map(str, ids))}), every one "
                     f"trained and scored; name them in classes.txt, and declare a void id there with 'ignore <id>'")
    void = sorted(k for k, v in (classes or {}).items() if v == IGNORE)
    if void:
        notes.append(f"void ids {', '.join(map(str, void))} (classes.txt) are ignored: neither trained on nor scored")
    return Folder(kind, in_channels, class_names, ids, void, size, arrays, labels, sorted(unlabeled), files, notes)


# --- split and write --------------------------------------------------------------------------------------

def make_split(stems: list[str], labeled_fraction: float, val_fraction: float, test_fraction: float,
               seed: int) -> dict[str, list[str]]:
    """Seeded: shuffle, take test, then val, then the labeled fraction of the rest; every part non-empty."""
    order = seeded_order(stems, seed)
    n = len(order)
    n_test, n_val = share(test_fraction, n), share(val_fraction, n)
    split = {"test": sorted(order[:n_test]), "val": sorted(order[n_test:n_test + n_val]),
             **labeled_split(order[n_test + n_val:], labeled_fraction)}
    empty = [k for k, v in split.items() if not v]
    if empty:
        raise DatasetError(f"{n} labeled images are too few for the split: empty {', '.join(empty)} "
                           f"(test {test_fraction}, val {val_fraction}, labeled {labeled_fraction})")
    return split


# --- a split the user provides -----------------------------------------------------------------------------

SPLIT_FILE_PARTS = ("train", "labeled", "unlabeled", "val", "test")  # train: the labeled fraction drawn from it
SPLIT_FILE_ALIASES = {"validation": "val", "valid": "val", "training": "train"}
SPLIT_FILE_HEADERS = ("split", "part", "subset", "set", "fold")  # a first line whose part column says this
SEEDED = "seeded"  # --split-file seeded: draw the split, even where the source holds a split file
SPLIT_FILE_NAMES = ("split", "train", "val", "test", "fold")  # words in a file name that look like a split


def _split_entry(raw: str, stems: dict[str, str], path: Path, n: int) -> str:
    """The stem a split file's first column names: the stem itself, or a file name or path ending in it."""
    name = raw.strip().replace("\\", "/")
    for candidate in (name, name.rsplit("/", 1)[-1], Path(name.rsplit("/", 1)[-1]).stem):
        if candidate in stems:
            return candidate
    raise DatasetError(f"{path}:{n}: {raw!r} is not an image of the source (images/ or unlabeled/)")


def read_split_file(path: str | Path, labeled: list[str], unlabeled: list[str], labeled_fraction: float,
                    seed: int) -> dict[str, list[str]]:
    """A split the dataset ships: one ``<image> <part>`` per line, tab, comma or space separated (a header
    line and ``#`` comments allowed); the image by stem, file name or path, the part one of train, labeled,
    unlabeled, val (validation) or test. ``train`` images are split into labeled and unlabeled by
    ``labeled_fraction`` (seeded, as the paper splits its training set); ``labeled``/``unlabeled`` say it
    directly (not both styles in one file). Every labeled image must be listed exactly once, an image without
    a mask only in train or unlabeled; images of unlabeled/ that are not listed join the unlabeled pool."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"--split-file {path}: no such file")
    stems = {s: s for s in labeled + unlabeled}
    parts: dict[str, list[str]] = {k: [] for k in SPLIT_FILE_PARTS}
    seen: dict[str, int] = {}
    for n, line in enumerate(path.read_text().splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        cells = [c for c in (line.split("\t") if "\t" in line else line.split(",") if "," in line
                             else line.rsplit(None, 1)) if c.strip()]
        if len(cells) != 2:
            raise DatasetError(f"{path}:{n}: expected '<image> <part>' (two columns), got {line!r}")
        part = cells[1].strip().lower()
        part = SPLIT_FILE_ALIASES.get(part, part)
        if not seen and not any(parts.values()) and part in SPLIT_FILE_HEADERS:
            continue  # the header
        if part not in SPLIT_FILE_PARTS:
            raise DatasetError(f"{path}:{n}: part {cells[1].strip()!r} is not one of {', '.join(SPLIT_FILE_PARTS)}")
        stem = _split_entry(cells[0], stems, path, n)
        if stem in seen:
            raise DatasetError(f"{path}:{n}: {stem} is listed twice (first on line {seen[stem]})")
        if stem in unlabeled and part not in ("train", "unlabeled"):
            raise DatasetError(f"{path}:{n}: {stem} has no mask (it is in unlabeled/), so it cannot be in {part}")
        seen[stem] = n
        parts[part].append(stem)
    missing = sorted(set(labeled) - set(seen))
    if missing:
        raise DatasetError(f"{path}: {len(missing)} labeled images are not listed: {', '.join(missing[:10])}"
                           f"{' ...' if len(missing) > 10 else ''}; list every image of images/ in one part")
    if parts["train"] and parts["labeled"]:
        raise DatasetError(f"{path}: both 'train' and 'labeled' parts; use train (the labeled fraction is drawn from "
                           f"it) or labeled/unlabeled, not both")
    no_mask = set(unlabeled)
    drawn = labeled_split(seeded_order([s for s in parts["train"] if s not in no_mask], seed), labeled_fraction) \
        if parts["train"] else {"labeled": parts["labeled"], "unlabeled": []}
    pool = set(parts["unlabeled"]) | set(drawn["unlabeled"]) | no_mask | (set(parts["train"]) & no_mask)
    split = {"labeled": sorted(drawn["labeled"]), "unlabeled": sorted(pool), "val": sorted(parts["val"]),
             "test": sorted(parts["test"])}
    empty = [k for k in ("labeled", "val", "test") if not split[k]]
    if empty:
        raise DatasetError(f"{path}: no image in {', '.join(empty)} (the split needs labeled, val and test images)")
    return split


def provided_split_files(src: Path) -> list[Path]:
    """Files in ``src`` that look like a split the dataset ships (``splits.tsv``, ``train.txt``,
    ``trainval.txt``, ``fold_1.csv``, ...): a list file whose name holds one of ``SPLIT_FILE_NAMES``."""
    pattern = re.compile("|".join(SPLIT_FILE_NAMES), re.IGNORECASE)
    return sorted(p for p in src.iterdir() if p.is_file() and p.suffix.lower() in (".tsv", ".csv", ".txt")
                  and pattern.search(p.stem))


def prepare_folder(src: str | Path, name: str, dst: str | Path | None = None, kind: str | None = None,
                   size: int = 256, labeled_fraction: float = 0.1, val_fraction: float = 0.1,
                   test_fraction: float = 0.2, seed: int = 42, splits_dir: str | Path | None = None,
                   in_channels: int | None = None, split_file: str | Path | None = None) -> Path:
    """Validate ``src``, resize, split and write ``dst`` (default ``data/prepared/<name>``).

    The split is seeded (test, val, then the labeled fraction of the rest) or read from ``split_file``
    (:func:`read_split_file`); a source that holds a file looking like a split (``splits.tsv``, ...) needs
    ``split_file`` said: that file, or ``"seeded"``. The lists are kept in ``dst/split/`` (``splits_dir``:
    elsewhere, e.g. a folder of your own repository), never in the project's ``data/splits/``."""
    src = Path(src)
    dst = Path(dst) if dst is not None else Path("data/prepared") / name
    if size % 16:
        raise DatasetError(f"--size must be a multiple of 16 (the U-Net halves it 4 times), got {size}")
    if split_file is None and src.is_dir():
        found = provided_split_files(src)
        if found:
            raise DatasetError(f"{found[0]}: looks like a split this dataset ships; pass --split-file {found[0]} to "
                               f"use it, or --split-file {SEEDED} to draw a seeded split instead")
    given = split_file is not None and str(split_file) != SEEDED
    split_path = Path(split_file).resolve() if given else None

    def split(folder: Folder) -> dict[str, list[str]]:
        if split_path is not None:
            return read_split_file(split_path, sorted(folder.labels), folder.unlabeled, labeled_fraction, seed)
        split = make_split(sorted(folder.labels), labeled_fraction, val_fraction, test_fraction, seed)
        split["unlabeled"] = sorted(split["unlabeled"] + folder.unlabeled)
        return split

    def describe(folder: Folder, split: dict[str, list[str]], parts) -> dict:
        how = ({"split_file": str(split_path), "split_file_sha256": sha256_of(split_path)} if split_path
               else {"val_fraction": val_fraction, "test_fraction": test_fraction})
        notes = folder.notes + ([f"split from {split_path.name}: {', '.join(f'{k} {len(v)}' for k, v in split.items())}"]
                                if split_path else [])
        return {"kind": folder.kind, "in_channels": folder.in_channels, "class_names": folder.class_names,
                "size": size, "seed": seed, "labeled_fraction": labeled_fraction, **how,
                "splits": {k: len(v) for k, v in split.items()},
                "class_ids": folder.class_ids, "ignore_ids": folder.ignore_ids, "notes": notes}

    return prepare_dataset(src, dst, splits_dir, name, read=lambda src: read_folder(src, kind, size, in_channels),
                           split=split, encode=lambda folder, part, names: folder.stack(names), describe=describe,
                           files=lambda folder: folder.files, split_given=given)
