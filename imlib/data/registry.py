"""Dataset names -> loaders. Synthetic tasks are generated in memory; any other name is a dataset
prepared by ``imlib prepare`` under ``cfg.prepared_dir/<name>`` (see :mod:`imlib.data.folder`)."""
from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import numpy as np
import torch

from imlib.config import RunConfig
from imlib.data import Dataset, SegData
from imlib.data import synthetic
from imlib.data.task import PAPER_DATASETS, AugmentConfig, Task
from imlib.paths import resolve



def _for_small_images(paper: str) -> AugmentConfig:
    """The paper's augmentation of a dataset, with its blur kernels scaled down to the small synthetic
    images (the paper's 3/5/7 px are meant for 256 px)."""
    return dataclasses.replace(PAPER_DATASETS[paper].augment, blur_kernels=(0, 3))


# (task, the paper dataset it stands in for); the U-Net width and augmentation are that dataset's
# (``PAPER_DATASETS``), blur scaled to the image size.
SYNTHETIC_TASKS: dict[str, tuple[Task, str]] = {
    "synthetic-lesion": (Task("binary", 3, 1, ("lesion",), augment=_for_small_images("isic2018")), "isic2018"),
    "synthetic-cells": (Task("multilabel", 1, 3, ("alive", "dead", "position"), position_channel=2,
                             alive_channel=0, dead_channel=1, augment=_for_small_images("hela")), "hela"),
    "synthetic-scenes": (Task("multiclass", 3, 9, synthetic.SCENE_CLASSES, augment=_for_small_images("suim")),
                         "suim"),
}

DATASETS = tuple(SYNTHETIC_TASKS)


def labeled_split(n: int, fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A seeded permutation; the first ``round(fraction * n)`` (at least 1) images are labeled."""
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    k = max(1, round(fraction * n))
    return perm[:k].sort().values, perm[k:].sort().values


def prepared_path(cfg: RunConfig) -> Path:
    """``cfg.prepared_dir/<dataset>``; a relative folder is looked up from the working directory, then
    from the project root (notebooks run in notebooks/)."""
    local = Path(cfg.prepared_dir) / cfg.dataset
    return local if local.exists() else resolve(local)


# the protocol line each official preparer wrote before manifests named their paper dataset
_PROTOCOL_PREFIXES = {"ISIC 2018": "isic2018", "HeLa": "hela", "SUIM": "suim", "Cityscapes": "cityscapes"}


def paper_dataset(manifest: dict) -> str | None:
    """The paper dataset a prepared dataset is (``isic2018``, ``hela``, ``suim``, ``cityscapes``), as its
    preparer recorded it (``paper_dataset``; for older manifests, its ``protocol`` line); None for a folder of
    one's own (``imlib prepare folder``)."""
    key = manifest.get("paper_dataset")
    if key is None and "protocol" in manifest:
        key = next((k for prefix, k in _PROTOCOL_PREFIXES.items() if str(manifest["protocol"]).startswith(prefix)),
                   None)
    return key if key in PAPER_DATASETS else None


def prepared_defaults(manifest: dict) -> tuple[float, AugmentConfig]:
    """(default alpha, augmentation) of a prepared dataset: the paper's for its datasets (``PAPER_DATASETS``:
    ISIC 2018 alpha 0.5, the others 1; each one's augmentation ranges); for one's own folder alpha 1.0 and
    the default (ISIC) ranges, unless the manifest gives ``default_alpha``. An explicit ``free_rotation`` in
    the manifest wins (SUIM and Cityscapes write False, as the table has it)."""
    paper = PAPER_DATASETS.get(paper_dataset(manifest) or "")
    alpha = float(manifest.get("default_alpha", paper.alpha if paper else 1.0))
    augment = paper.augment if paper else AugmentConfig()
    if "free_rotation" in manifest:
        augment = dataclasses.replace(augment, free_rotation=bool(manifest["free_rotation"]))
    return alpha, augment


def load_prepared(cfg: RunConfig, device: torch.device | str = "cpu") -> Dataset:
    """A dataset written by ``imlib prepare``: its splits as prepared (the labeled fraction is part of
    the prepared split, so a different ``labeled_fraction`` is an error, not a silent re-split)."""
    folder = prepared_path(cfg)
    manifest_path = folder / "manifest.json"
    if not manifest_path.exists():
        if cfg.dataset in PAPER_DATASETS:
            raise ValueError(f"dataset {cfg.dataset!r} is not prepared (no {manifest_path}): run `imlib download "
                             f"{cfg.dataset}` (it says what to fetch by hand where there is no public download), then "
                             f"`imlib prepare {cfg.dataset} --src data/raw/{cfg.dataset}`")
        raise ValueError(f"unknown dataset {cfg.dataset!r}: not synthetic ({', '.join(DATASETS)}) and no prepared "
                         f"dataset at {folder} (run `imlib prepare folder --src ... --name {cfg.dataset}`)")
    manifest = json.loads(manifest_path.read_text())
    if manifest.get("study") == "a":
        raise ValueError(f"{folder}: prepared for Study A (full-resolution file lists, read with "
                         f"imlib.data.official.cityscapes.study_a_pairs), not for the Study B U-Net; prepare "
                         f"`imlib prepare cityscapes` without --protocol study-a for that")
    if abs(manifest["labeled_fraction"] - cfg.labeled_fraction) > 1e-9:
        raise ValueError(f"{manifest_path}: prepared with labeled_fraction {manifest['labeled_fraction']}, the run "
                         f"asks for {cfg.labeled_fraction}; prepare it again with --labeled-fraction")
    parts = {}
    for name in ("labeled", "unlabeled", "val", "test"):
        with np.load(folder / f"{name}.npz") as z:
            parts[name] = SegData(torch.from_numpy(z["images"]), torch.from_numpy(z["labels"]))
    kind = manifest["kind"]
    names = tuple(manifest["class_names"])
    # multi-label channels named as HeLa's get its cell-count metric and position handling
    channel = {n: names.index(n) for n in ("alive", "dead", "position") if kind == "multilabel" and n in names}
    alpha, augment = prepared_defaults(manifest)
    task = Task(kind, manifest["in_channels"], len(names), names, alive_channel=channel.get("alive"),
                dead_channel=channel.get("dead"), position_channel=channel.get("position"), augment=augment)
    train = SegData.cat([parts["labeled"], parts["unlabeled"]])
    n_lab = len(parts["labeled"])
    return Dataset(
        name=cfg.dataset, task=task, default_alpha=alpha, synthetic=False, stands_in_for=None,
        train=train.to(device), labeled_idx=torch.arange(n_lab), unlabeled_idx=torch.arange(n_lab, len(train)),
        val=parts["val"].to(device), test=parts["test"].to(device),
        provenance={"source": manifest["source"], "prepared": str(folder), "kind": kind, "size": manifest["size"],
                    "splits": manifest["splits"], "seed": manifest["seed"],
                    "protocol": manifest.get("protocol", "imlib prepare folder"),
                    "paper_dataset": paper_dataset(manifest),
                    "data_version": hashlib.sha256(manifest_path.read_bytes()).hexdigest()[:16]},
    )


def load_dataset(cfg: RunConfig, device: torch.device | str = "cpu") -> Dataset:
    if cfg.dataset not in SYNTHETIC_TASKS:
        return load_prepared(cfg, device)
    task, stands_in = SYNTHETIC_TASKS[cfg.dataset]
    alpha = PAPER_DATASETS[stands_in].alpha
    s = cfg.image_size
    # one seed per split; synthetic.image_seed keeps the splits' images apart for any size
    parts = {name: synthetic.generate(cfg.dataset, n, s, cfg.data_seed * 10 + k)
             for k, (name, n) in enumerate((("train", cfg.n_train), ("val", cfg.n_val), ("test", cfg.n_test)))}
    lab, unl = labeled_split(cfg.n_train, cfg.labeled_fraction, cfg.data_seed)
    return Dataset(
        name=cfg.dataset, task=task, default_alpha=alpha, synthetic=True, stands_in_for=stands_in,
        train=SegData(*parts["train"]).to(device), labeled_idx=lab, unlabeled_idx=unl,
        val=SegData(*parts["val"]).to(device), test=SegData(*parts["test"]).to(device),
        provenance={"source": "imlib.data.synthetic (procedurally generated)",
                    "generator_version": synthetic.GENERATOR_VERSION, "data_seed": cfg.data_seed,
                    "image_size": s, "stands_in_for": stands_in,
                    "data_version": synthetic.data_version(max(cfg.n_train, cfg.n_val, cfg.n_test))},
    )
