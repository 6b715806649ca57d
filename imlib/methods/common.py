"""What every method shares: the loaded dataset, training (or reusing) a set of models, ranking them
on validation, and the entries of a run record.

Trained models are cached under ``work_dir/models/<dataset>/`` by a hash of what determines them, so
the LDT models of a seed are trained once and serve LDT, Model Ensemble and IM alike, and a run that
was interrupted resumes at the last finished epoch of the model it was training.
"""
from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from imlib.config import RunConfig, config_key
from imlib.data import Dataset, SegData
from imlib.data.registry import load_dataset
from imlib.engine import TRAINING_VERSION, Objective, TrainSettings, atomic_save, evaluate, pick_device, train_model
from imlib.models import build_model


@dataclass
class Member:
    """One trained model of a run, with its validation and test scores."""

    name: str
    model: nn.Module
    val: dict[str, float]
    test: dict[str, float]
    best_epoch: int
    seconds: float
    history: list[dict] = field(default_factory=list)
    cached: bool = False
    checkpoint: str = ""

    def entry(self) -> dict[str, Any]:
        return {"name": self.name, "val": self.val, "test": self.test, "best_epoch": self.best_epoch,
                "seconds": round(self.seconds, 3), "reused": self.cached, "checkpoint": self.checkpoint,
                "history": [{k: (round(v, 6) if isinstance(v, float) else v) for k, v in h.items()}
                            for h in self.history]}


def member_seed(run_seed: int, role: str, index: int) -> int:
    return int(hashlib.sha256(f"{run_seed}/{role}/{index}".encode()).hexdigest()[:8], 16)


class Context:
    """A run's dataset, device, training settings and model cache."""

    def __init__(self, cfg: RunConfig, progress: bool = True, dataset: Dataset | None = None):
        self.cfg = cfg
        self.device = pick_device(cfg.device)
        self.started = time.perf_counter()
        self.ds = dataset if dataset is not None else load_dataset(cfg, self.device)
        self.task = self.ds.task
        self.alpha = cfg.alpha if cfg.alpha is not None else self.ds.default_alpha
        self.settings = TrainSettings(epochs=cfg.epochs, batch_size=cfg.batch_size,
                                      steps_per_epoch=cfg.steps_per_epoch, lr=cfg.lr,
                                      weight_decay=cfg.weight_decay, amp=cfg.amp, progress=progress)
        self.models_dir = Path(cfg.work_dir) / "models" / cfg.dataset

    def build(self) -> nn.Module:
        return build_model(self.task, self.alpha, self.cfg.bn_momentum)

    def train_members(self, role: str, data: SegData | Callable[[], Objective], count: int,
                      reference: bool) -> list[Member]:
        """Train ``count`` models on ``data`` (or load them if trained before with the same settings).

        ``data``: a labeled set (the paper's supervised training) or a factory of a fresh
        :class:`~imlib.engine.Objective` per model (the semi-supervised baselines).

        ``reference``: the models depend only on data and training settings (LDT/ALDT/FDT/AFDT), not
        on the method's own options, so other methods can reuse them.
        """
        members = []
        for i in range(count):
            key = config_key(self.cfg, reference_only=reference, role=role, index=i,
                             versions=(TRAINING_VERSION, self.ds.provenance.get("data_version")))
            final = self.models_dir / f"{role}-{i}-{key}.pt"
            partial = final.with_name(final.stem + ".partial.pt")
            model = self.build().to(self.device)
            if final.exists():
                ck = torch.load(final, map_location=self.device, weights_only=True)
                model.load_state_dict(ck["state"])
                members.append(Member(f"{role}-{i}", model, ck["val"], ck["test"], ck["best_epoch"],
                                      ck["seconds"], ck["history"], cached=True, checkpoint=str(final)))
                continue
            res = train_model(self.build, data() if callable(data) else data, self.ds.val, self.task, self.settings,
                              member_seed(self.cfg.seed, role, i), self.device, checkpoint=partial,
                              desc=f"{self.cfg.dataset} {role}-{i}")
            model.load_state_dict(res.state)
            val = evaluate(model, self.ds.val, self.task, amp=self.cfg.amp)
            test = evaluate(model, self.ds.test, self.task, amp=self.cfg.amp)
            atomic_save({"state": res.state, "val": val, "test": test, "best_epoch": res.best_epoch,
                         "seconds": res.seconds, "history": res.history}, final)
            partial.unlink(missing_ok=True)
            members.append(Member(f"{role}-{i}", model, val, test, res.best_epoch, res.seconds, res.history,
                                  checkpoint=str(final)))
        return members

    def rank(self, members: list[Member]) -> list[Member]:
        """Best first by the task's metric on *validation* (never test), ties by training order."""
        sign = -1 if self.task.higher_is_better else 1
        return sorted(members, key=lambda m: (sign * m.val[self.task.metric], m.name))

    def generation_entry(self, generation: int, ranked: list[Member], **extra: Any) -> dict[str, Any]:
        """A generation (or the one set of reference models): all members, and the top-1 by validation."""
        top = ranked[0]
        metric = self.task.metric
        tests = torch.tensor([m.test[metric] for m in ranked], dtype=torch.float64)
        return {"generation": generation, "selected": top.name, "val": top.val, "test": top.test,
                "test_mean": float(tests.mean()), "test_std": float(tests.std()) if len(tests) > 1 else 0.0,
                "members": [m.entry() for m in ranked], **extra}
