"""Trained models on disk, found again by what determines them.

A model is stored under ``<work_dir>/models/<dataset>/<role>-<index>-<key>.pt``; the key is a hash of
the configuration fields that can change its weights, taken from the scopes the fields declare in
:mod:`imlib.config` (no hand-kept list): a reference model (LDT, ALDT, FDT, AFDT) depends on the data and
training fields only, so the LDT models of a seed are trained once and serve LDT, Model Ensemble and IM
alike; any other model also on the method's fields and options. While a model trains, its partial
checkpoint sits beside the final file, so an interrupted run resumes at the last finished epoch.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch

from imlib.config import DATA, METHOD, TRAINING, RunConfig, semantic_fields
from imlib.engine import atomic_save

# Bumped when a change to the training code changes the weights a configuration produces, so that
# models trained by older code are not reused (a field change needs no bump: it changes the key).
TRAINING_VERSION = 4

Scope = Literal["reference", "method"]
KEY_FIELDS: dict[str, tuple[str, ...]] = {
    "reference": semantic_fields(DATA, TRAINING),
    "method": ("method",) + semantic_fields(DATA, TRAINING, METHOD),
}


def model_key(cfg: RunConfig, scope: Scope, role: str, index: int, data_version: Any) -> str:
    """A short hash of everything that determines the ``index``-th model of ``role``."""
    d = cfg.to_dict()
    blob = {k: d[k] for k in KEY_FIELDS[scope]}
    blob.update(role=role, index=index, versions=(TRAINING_VERSION, data_version))
    return hashlib.sha256(json.dumps(blob, sort_keys=True, default=str).encode()).hexdigest()[:16]


def member_seed(run_seed: int, role: str, index: int) -> int:
    """The seed of one model of a run, different for every role and index."""
    return int(hashlib.sha256(f"{run_seed}/{role}/{index}".encode()).hexdigest()[:8], 16)


@dataclass
class CachedModel:
    """What is saved of a trained model: its best weights and what the run record says about it."""

    state: dict[str, torch.Tensor]
    val: dict[str, float]
    test: dict[str, float]
    best_epoch: int
    seconds: float
    history: list[dict]
    evaluated: str = "student"


class ModelCache:
    """The folder of a dataset's trained models."""

    def __init__(self, work_dir: str | Path, dataset: str):
        self.folder = Path(work_dir) / "models" / dataset

    def path(self, role: str, index: int, key: str) -> Path:
        return self.folder / f"{role}-{index}-{key}.pt"

    @staticmethod
    def partial(path: Path) -> Path:
        """Where the model's resumable checkpoint lives while it trains."""
        return path.with_name(path.stem + ".partial.pt")

    @staticmethod
    def partial_set(paths: list[Path]) -> Path:
        """Where the resumable checkpoint of models trained together (one packed network) lives."""
        return paths[0].with_name(f"{paths[0].stem}.set{len(paths)}.partial.pt")

    @staticmethod
    def load(path: Path, device: torch.device) -> CachedModel | None:
        if not path.exists():
            return None
        ck = torch.load(path, map_location=device, weights_only=True)
        return CachedModel(ck["state"], ck["val"], ck["test"], ck["best_epoch"], ck["seconds"], ck["history"],
                           ck["evaluated"])

    @staticmethod
    def save(path: Path, model: CachedModel) -> None:
        atomic_save(vars(model), path)
        ModelCache.partial(path).unlink(missing_ok=True)
