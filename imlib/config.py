"""Run configuration and the two presets.

``paper`` is the paper's protocol (paper-notes §4/§5): AdamW lr 3e-3, batch 32, 50 epochs of
floor(N / 32) steps, best-on-validation checkpoint, 10 reference models per run, IM with n teachers
out of K = 5 students per generation and 5 generations. ``smoke`` is the same code at CPU scale: tiny
synthetic images, every model gets the same small step budget (``steps_per_epoch``), fewer models.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field, fields
from typing import Any

# The original used tfa.optimizers.AdamW(learning_rate=3e-3, weight_decay=1e-4). TFA's decoupled decay
# subtracts weight_decay * w per step, PyTorch's AdamW subtracts lr * weight_decay * w, so the
# equivalent PyTorch value is 1e-4 / 3e-3.
PAPER_LR = 3e-3
PAPER_WEIGHT_DECAY = 1e-4 / PAPER_LR


@dataclass
class RunConfig:
    study: str = "b"
    dataset: str = "synthetic-lesion"
    method: str = "ldt"
    seed: int = 0
    preset: str = "paper"
    # data
    data_seed: int = 42  # the paper keeps one split (seed 42) for all runs; ``seed`` varies the models
    labeled_fraction: float = 0.1
    image_size: int = 256  # synthetic datasets only; real datasets are prepared at their own size
    n_train: int = 2594  # synthetic sizes mirror ISIC 2018 (2594 train / 100 val / 1000 test)
    n_val: int = 100
    n_test: int = 1000
    # model
    alpha: float | None = None  # None: the dataset's default (ISIC 0.5, others 1)
    bn_momentum: float = 0.01  # Keras' 0.99; smoke runs use 0.1 (too few steps for slow BN statistics)
    # training
    epochs: int = 50
    batch_size: int = 32
    steps_per_epoch: int | None = None  # None: floor(N / batch_size), the paper's
    lr: float = PAPER_LR
    weight_decay: float = PAPER_WEIGHT_DECAY
    amp: bool = True  # bf16 autocast, CUDA only
    device: str = "auto"
    # reference models and generational methods
    n_models: int = 10  # reference models per run (the paper trains 10, keeps the top 4)
    aug_copies: int = 9  # ALDT / AFDT: augmented copies per labeled image
    n_teachers: int = 2
    ssl_models: int = 3  # models per semi-supervised baseline run (top-1 on validation is reported)
    n_students: int = 5
    generations: int = 5
    # IM options (paper defaults)
    im_mode: str = "blackout"  # or "ignore"
    im_erode: int = 0
    im_dilate: int = 0
    im_filter: bool | None = None  # None: the paper's (on for binary tasks only)
    # where things go
    results_dir: str = "data/results"
    prepared_dir: str = "data/prepared"  # datasets prepared by ``imlib prepare``
    work_dir: str = "data/work"
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.n_teachers < 2:
            raise ValueError(f"IM needs at least 2 teachers, got n_teachers={self.n_teachers}")
        if self.n_teachers > min(self.n_models, self.n_students):
            raise ValueError(f"n_teachers={self.n_teachers} exceeds the models to choose from "
                             f"(n_models={self.n_models}, n_students={self.n_students})")
        if not 0 < self.labeled_fraction <= 1:
            raise ValueError(f"labeled_fraction must be in (0, 1], got {self.labeled_fraction}")
        if self.im_mode not in ("blackout", "ignore"):
            raise ValueError(f"im_mode must be 'blackout' or 'ignore', got {self.im_mode!r}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @property
    def run_id(self) -> str:
        return f"study_{self.study}/{self.dataset}/{self.method}/{self.preset}-seed{self.seed}"


PRESETS: dict[str, dict[str, Any]] = {
    "paper": {},
    # CPU scale: every model gets the same 360 steps of 8 images (semi-supervised baselines: 8 labeled +
    # 8 unlabeled) at 48 x 48, so that the twelve Study B rows on three tasks fit in about a quarter of an
    # hour on 2 cores (the paper's floor(N / 32) steps per
    # epoch would give AFDT 100x the steps of LDT); see the README for what else differs
    "smoke": dict(image_size=48, n_train=320, n_val=48, n_test=96, epochs=12, batch_size=8,
                  steps_per_epoch=30, n_models=2, ssl_models=1, n_students=2, generations=2, alpha=0.5, bn_momentum=0.1),
}

# fields that do not change what a model learns (left out of cache keys)
NON_SEMANTIC = {"study", "method", "preset", "device", "amp", "results_dir", "work_dir", "prepared_dir"}


def make_config(preset: str = "smoke", **overrides: Any) -> RunConfig:
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; expected one of {sorted(PRESETS)}")
    names = {f.name for f in fields(RunConfig)}
    unknown = set(overrides) - names
    if unknown:
        raise ValueError(f"unknown config keys {sorted(unknown)}; known: {sorted(names)}")
    return RunConfig(**{**PRESETS[preset], "preset": preset, **overrides})


# what a supervised reference model depends on (so LDT models are shared by LDT, ME and IM runs)
REFERENCE_FIELDS = ("dataset", "seed", "data_seed", "labeled_fraction", "image_size", "n_train", "n_val",
                    "n_test", "alpha", "bn_momentum", "epochs", "batch_size", "steps_per_epoch", "lr", "weight_decay",
                    "aug_copies", "extra")


def config_key(cfg: RunConfig, reference_only: bool = False, **extra: Any) -> str:
    """A short hash of everything that determines a trained model (used to reuse and resume models)."""
    d = {k: v for k, v in cfg.to_dict().items()
         if (k in REFERENCE_FIELDS if reference_only else k not in NON_SEMANTIC or k == "method")}
    blob = json.dumps({**d, **extra}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]
