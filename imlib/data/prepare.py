"""``imlib prepare``: the one sequence every dataset's preparation follows, and the table of datasets.

A preparer reads its download (checking the layout, the pairing and the counts), splits it (seeded, or the
official parts, or a split file of the user's), checks the split against the lists kept under
``splits_dir/<name>/`` (committed for the paper's datasets; inside the prepared dataset for people's own) or
writes them, with a ``split.json`` of the values that made them, encodes each split part as arrays, and writes one
``<part>.npz`` per part, a ``manifest.json`` and the marker ``.imlib-prepared`` (only a folder holding it is
ever replaced):
:func:`prepare_dataset` runs these steps in this order with the dataset's own pieces plugged in, so that
every dataset is validated, split and written the same way. ``PREPARERS`` lists the datasets
``imlib prepare`` knows and which of its options each takes.
"""
from __future__ import annotations

import importlib
import json
import os
import random
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, TypeVar

import numpy as np

from imlib.data.sources import DatasetError, Pairs, file_manifest

SPLITS = ("labeled", "unlabeled", "val", "test")
FORMAT_VERSION = 1

Split = dict[str, list[str]]  # split part -> the stems (images) in it
Part = tuple[np.ndarray, np.ndarray, list[str]]  # images (N, C, H, W), labels (N, L, H, W), names
S = TypeVar("S")  # what a dataset's ``read`` returns, handed to its other steps


# --- split ------------------------------------------------------------------------------------------------

def seeded_order(stems: Iterable[str], seed: int) -> list[str]:
    """The stems sorted, then shuffled with ``seed``: every split of this project starts from it."""
    order = sorted(stems)
    random.Random(seed).shuffle(order)
    return order


def share(fraction: float, n: int) -> int:
    """How many of ``n`` items a split fraction takes (at least one)."""
    return max(1, round(fraction * n))


def labeled_split(order: list[str], labeled_fraction: float) -> Split:
    """The first ``labeled_fraction`` of an already shuffled ``order`` labeled, the rest unlabeled (sorted)."""
    n_lab = share(labeled_fraction, len(order))
    return {"labeled": sorted(order[:n_lab]), "unlabeled": sorted(order[n_lab:])}


OFFICIAL_PARTS = {"labeled": "train", "unlabeled": "train", "val": "val", "test": "test"}  # of official_split


def official_split(pairs: Mapping[str, Pairs], labeled_fraction: float, seed: int) -> Split:
    """The official ``val`` and ``test`` parts kept, the labeled fraction of the official ``train`` drawn
    (``OFFICIAL_PARTS``: which official part each split part comes from)."""
    return {**labeled_split(seeded_order(pairs["train"].images, seed), labeled_fraction),
            "val": sorted(pairs["val"].images), "test": sorted(pairs["test"].images)}


def check_counts(pairs: Mapping[str, Pairs], expected: Mapping[str, int], src: Path, hint: str) -> None:
    """The official image count of every part, unless the caller asked for a subset (``hint`` says how)."""
    wrong = {p: len(pairs[p].images) for p in expected if len(pairs[p].images) != expected[p]}
    if wrong:
        raise DatasetError(f"{src}: image counts {wrong} differ from the official {dict(expected)} ({hint})")


def read_official_parts(src: Path, pair_part: Callable[[Path, str], Pairs], parts: Iterable[str],
                        expected: Mapping[str, int], strict_counts: bool, hint: str) -> dict[str, Pairs]:
    """Each official part of a download as image/mask pairs, with the official counts checked unless a
    subset was asked for."""
    pairs = {part: pair_part(src, part) for part in parts}
    if strict_counts:
        check_counts(pairs, expected, src, hint)
    return pairs


def set_difference(listed: set[str], here: set[str]) -> str:
    """What differs between the files a list names and the files found (the first ten of each side)."""
    return (f"listed but not here: {sorted(listed - here)[:10]}; "
            f"here but not listed: {sorted(here - listed)[:10]}")


def read_list(path: Path) -> list[str]:
    """The entries of a list file, one a line: a name may hold spaces, so only blank lines are dropped."""
    return [line for line in path.read_text().splitlines() if line.strip()]


def committed_split(folder: Path, split: Split) -> Split | None:
    """The lists already under ``folder`` (committed), after checking that they name exactly the files of
    ``split``; None when there are none."""
    if not all((folder / f"{k}.txt").exists() for k in SPLITS):
        return None
    committed = {k: read_list(folder / f"{k}.txt") for k in SPLITS}
    have = {s for v in committed.values() for s in v}
    here = {s for v in split.values() for s in v}
    if have != here:
        raise DatasetError(f"{folder}: the split kept there names other files than this data has "
                           f"({set_difference(have, here)}); delete {folder} to make a new split")
    return committed


SPLIT_MADE_BY = ("seed", "labeled_fraction", "val_fraction", "test_fraction", "split_file")  # the manifest keys a split follows


def made_by(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """The values that decided a split (those of ``SPLIT_MADE_BY`` the dataset has), as ``split.json`` keeps them."""
    return {k: manifest[k] for k in SPLIT_MADE_BY if k in manifest}


def check_made_by(folder: Path, new: Mapping[str, Any]) -> None:
    """Committed lists are reused only for the values that made them: other values would give another split
    while the manifest recorded them. Lists without ``split.json`` (committed before it existed) are taken as
    they are."""
    path = folder / "split.json"
    old = json.loads(path.read_text()) if path.exists() else new
    changed = [k for k in {**old, **new} if old.get(k) != new.get(k)]
    if changed:
        made, asked = (", ".join(f"{k} {values.get(k)}" for k in changed) for values in (old, new))
        flags = " ".join(f"--{k.replace('_', '-')} {old.get(k)}" for k in changed)
        raise DatasetError(f"{folder}: the split kept there was made with {made}, this run asks for {asked}; "
                           f"pass the old values ({flags}) or delete {folder} to make a new split")


def write_split(folder: Path, split: Split, made: Mapping[str, Any]) -> None:
    """One list per split part and ``split.json`` (what made them), each written whole."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {f"{k}.txt": "\n".join(split[k]) + "\n" for k in SPLITS} | {"split.json": json.dumps(made, indent=1)}
    for file, text in files.items():
        tmp = folder / f".{file}.tmp"
        tmp.write_text(text)
        os.replace(tmp, folder / file)


# --- write ------------------------------------------------------------------------------------------------

PREPARED_MARKER = ".imlib-prepared"
SPLIT_FOLDER = "split"  # a prepared dataset's own split lists (people's own data: not in data/splits/)  # in every folder imlib prepares: the only folders it may replace


def check_name(name: str) -> None:
    """A dataset's name is a folder under the prepared and the splits folders: a path there (``..``, ``a/b``)
    would write, or replace, somewhere else."""
    if name in ("", ".", "..") or "/" in name or "\\" in name:
        raise DatasetError(f"--name {name!r}: expected a plain name (no '/', not '.' or '..'), the dataset's "
                           f"folder under the prepared and splits folders")


def is_prepared(folder: Path) -> bool:
    """Whether ``folder`` is one imlib prepared: it holds the marker, or (prepared before the marker existed)
    a manifest.json of this project's format."""
    if (folder / PREPARED_MARKER).is_file():
        return True
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
    except (OSError, ValueError):
        return False
    return isinstance(manifest, dict) and manifest.get("format") == FORMAT_VERSION and "name" in manifest


def check_destination(dst: Path, src: Path) -> None:
    """``dst`` may be replaced only when absent, an empty folder or a folder imlib prepared, and never when it
    is (or holds) the source: imlib never deletes what it did not make."""
    dst, src = Path(dst), Path(src)
    if dst.is_symlink():
        raise DatasetError(f"{dst}: is a symbolic link; expected a new path or a folder imlib prepared")
    if not dst.exists():
        return
    if src.resolve() == dst.resolve() or dst.resolve() in src.resolve().parents:
        raise DatasetError(f"{dst}: is or holds the source {src}; choose another --dst or --name")
    if not dst.is_dir() or (any(dst.iterdir()) and not is_prepared(dst)):
        raise DatasetError(f"{dst}: exists and is not a folder imlib prepared (no {PREPARED_MARKER}); expected a "
                           f"new path: choose another --dst or --name, or remove it yourself")


def write_prepared(dst: Path, parts: dict[str, Part], manifest: dict, src: Path,
                   split: tuple[Split, Mapping[str, Any]] | None = None) -> Path:
    """Write one ``<split>.npz`` per split and ``manifest.json`` (and, given ``split``, its lists under
    ``split/``) into a temporary folder, then move it into place, so that a prepared dataset is never
    half-written."""
    dst = Path(dst)
    dst_tmp = dst.with_name(dst.name + f".tmp{os.getpid()}")
    dst_tmp.mkdir(parents=True, exist_ok=True)
    for part, (x, y, names) in parts.items():
        np.savez(dst_tmp / f"{part}.npz", images=x, labels=y, stems=np.array(names))
    (dst_tmp / "manifest.json").write_text(json.dumps(manifest, indent=1))
    if split is not None:
        write_split(dst_tmp / SPLIT_FOLDER, *split)
    return move_into_place(dst_tmp, dst, src)


def move_into_place(tmp: Path, dst: Path, src: Path) -> Path:
    """Replace ``dst`` by the finished folder ``tmp``, marked as prepared: a prepared dataset is complete or
    absent. ``dst`` is checked again here (``check_destination``), just before it is replaced."""
    (tmp / PREPARED_MARKER).write_text("written by imlib prepare: replaced when the dataset is prepared again\n")
    try:
        check_destination(dst, src)
    except DatasetError:
        shutil.rmtree(tmp)
        raise
    if dst.exists():
        shutil.rmtree(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    os.replace(tmp, dst)
    return dst


# --- the sequence -----------------------------------------------------------------------------------------

def pair_files(sources: Mapping[str, Pairs]) -> list[Path]:
    """Every file of a download read as image/mask pairs per part (what the manifest checksums)."""
    return [p for pairs in sources.values() for p in pairs.files()]


def prepare_dataset(src: str | Path, dst: str | Path, splits_dir: str | Path | None, name: str, *,
                    read: Callable[[Path], S], split: Callable[[S], Split],
                    encode: Callable[[S, str, list[str]], Part], describe: Callable[[S, Split, dict[str, Part]], dict],
                    files: Callable[[S], list[Path]] = pair_files, split_given: bool = False) -> Path:
    """read -> validate -> split -> write, with one dataset's pieces:

    * ``read(src)`` finds (and checks) the source files; it raises :class:`~imlib.data.sources.DatasetError` naming what is wrong
      before anything is written;
    * ``split(sources)`` gives the stems of each of ``SPLITS``; an empty part is an error, and lists already
      kept under ``splits_dir/name`` win over it (if they name the same files and were made with the
      same seed and fractions, as their ``split.json`` says), unless ``split_given`` (the split comes from the
      user's own split file: the file is what decides, the lists only record it);
    * ``encode(sources, part, stems)`` gives the arrays of one part;
    * ``describe(sources, split, parts)`` the dataset's manifest entries, between the common head (format,
      name, source) and the checksums of ``files(sources)``.

    ``splits_dir`` None keeps the lists inside the prepared dataset (``dst/split/``, written with it): the
    place for people's own data, whose lists do not belong in the project's tracked ``data/splits/``.
    """
    src, dst = Path(src), Path(dst)
    lists = Path(splits_dir) / name if splits_dir is not None else dst / SPLIT_FOLDER
    check_name(name)
    check_destination(dst, src)
    sources = read(src)
    chosen = split(sources)
    chosen = {k: chosen[k] for k in SPLITS if k in chosen} | chosen  # one order in every manifest and summary
    empty = [k for k, v in chosen.items() if not v]
    if empty:
        raise DatasetError(f"{src}: too few images for the split: empty {', '.join(empty)}")
    committed = None if split_given else committed_split(lists, chosen)
    use = committed if committed is not None else chosen
    parts = {k: encode(sources, k, stems) for k, stems in use.items()}
    manifest = {"format": FORMAT_VERSION, "name": name, "source": str(src.resolve()),
                **describe(sources, use, parts), "files": file_manifest(src, files(sources))}
    if committed is not None:
        check_made_by(lists, made_by(manifest))
    elif splits_dir is not None:
        write_split(lists, chosen, made_by(manifest))
    return write_prepared(dst, parts, manifest, src, split=None if splits_dir is not None else (use, made_by(manifest)))


# --- the datasets `imlib prepare` knows ---------------------------------------------------------------------

@dataclass(frozen=True)
class Preparer:
    """One ``imlib prepare <dataset>``: the function (imported when used), the keyword arguments it takes from
    the command line beyond ``src``, ``dst`` and ``name``, its default name (None: ``--name`` is required), the
    line printed when done (filled from the manifest, ``name`` and ``dst``), and its variants by ``--protocol``."""
    function: str
    options: tuple[str, ...]
    default_name: str | None
    summary: str = "{name}: split {splits} -> {dst}"
    protocols: Mapping[str, Preparer] = field(default_factory=dict)

    def __call__(self, **kwargs: Any) -> Path:
        module, function = self.function.split(":")
        return getattr(importlib.import_module(module), function)(**kwargs)


_OFFICIAL = ("splits_dir", "size", "labeled_fraction", "seed")  # --val-fraction, --test-fraction: folder only
PREPARERS: dict[str, Preparer] = {
    "folder": Preparer("imlib.data.folder:prepare_folder",
                       ("kind", "size", "labeled_fraction", "val_fraction", "test_fraction", "seed", "splits_dir",
                        "split_file"),
                       None, "{name}: {kind}, classes {class_names}, {size} px, split {splits} -> {dst}"),
    "isic2018": Preparer("imlib.data.official.isic2018:prepare", _OFFICIAL + ("strict_counts",), "isic2018"),
    "suim": Preparer("imlib.data.official.suim:prepare", _OFFICIAL, "suim"),
    "hela": Preparer("imlib.data.official.hela:prepare", _OFFICIAL, "hela"),
    "cityscapes": Preparer(
        "imlib.data.official.cityscapes:prepare", _OFFICIAL + ("strict_counts", "classes"), "cityscapes",
        protocols={"study-a": Preparer("imlib.data.official.cityscapes:prepare_study_a", ("u2pl_splits",),
                                       "cityscapes_study_a",
                                       "{name}: U2PL {u2pl[commit]:.7} partitions {splits} -> {dst}")}),
}
