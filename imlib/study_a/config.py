"""A Study A run's configuration and its presets.

A run is one host (Supervised, U2PL, UniMatch, iMAS, UniMatch V2, SegKC) on one split, with or without the IM
plug-in. Fields left ``None`` take the host's official recipe (:class:`imlib.study_a.recipe.HostRecipe`), so
the ``paper`` preset is each host's own protocol; ``smoke`` shrinks it to a CPU code check (ResNet-18 at
64-px crops, or a 4-block DINOv2 ViT at 56-px crops; the synthetic stand-in, a couple of epochs). The run's identity (its record path) holds every setting that
changes the weights, as in Study B: a different setting never overwrites or reuses another run's record.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, ClassVar

from imlib.config import check_known_fields
from imlib.methods.options import Option, one_of, resolve_options

PLUGINS = ("none", "im")
VARIANTS = {"G": "offline generational: n host runs as teachers label the unlabeled images (IM in ignore mode), "
                 "a fresh host run trains on GT ∪ IM pairs (this companion's reading of the paper)",
            "M": "the teachers' offline IM removed from the host's unsupervised losses (the labeled set unchanged)",
            "O": "online: pixels where two predictors of the host disagree are left out of its unsupervised losses"}

# The IM plug-in's own settings, each with why (printed in the book)
PLUGIN_OPTIONS = {
    "variant": Option("G", "the paper does not say how IM enters a host; G (IM as data) is this companion's "
                           "reading; M (mask out of the host's losses) and O (online mask) are the alternatives", one_of(*VARIANTS)),
    "n_teachers": Option(2, "the legacy IM+ Cityscapes choice; its teachers are the host's runs of seeds "
                            "seed*n .. seed*n + n - 1, so the seeds of an IM cell never share a teacher",
                         lambda v: None if v >= 2 else "at least 2"),
    "blackout": Option("black", "IM pixels of the input: uint8 0 as the legacy code (after the geometric "
                                "augmentation), 'mean' = the ImageNet mean, 'none' = input untouched",
                       one_of("black", "mean", "none")),
    "teacher_checkpoint": Option("last", "'best' would select the teachers on the validation set, which is also "
                                         "Cityscapes' evaluation set", one_of("last", "best")),
}

# fields that name the run or say where and how it runs; every other field changes the weights
RUNTIME_FIELDS = ("preset", "device", "amp", "workers", "results_dir", "work_dir", "prepared_dir", "weights",
                  "allow_stand_in")


@dataclass
class StudyAConfig:
    """Everything that defines one Study A run; fields left ``None`` take the host's recipe."""

    study: ClassVar[str] = "a"
    host: str = "unimatch"
    dataset: str = "synthetic-cityscapes"
    split: str = "1/8"
    seed: int = 0
    preset: str = "paper"
    plugin: str = "none"
    plugin_options: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)  # the host's own options (its OPTIONS)
    # model
    encoder: str | None = None  # None: the recipe's (ResNet-50, or DINOv2-S for UniMatch V2 and SegKC)
    weights: str | None = None  # a local ImageNet / DINOv2 backbone file (imlib.study_a.weights); None: from scratch
    # schedule: None = the host's recipe
    epochs: int | None = None
    crop: int | None = None
    total_batch: int | None = None  # labeled images per step over all processes (the unlabeled batch is equal)
    lr: float | None = None  # None: the recipe's, scaled linearly when total_batch differs from the host's
    ohem_min_kept: int | None = None
    eval_window: int | None = None
    eval_stride: int | None = None
    eval_every: int = 1  # epochs between evaluations (always at the end)
    max_iterations_per_epoch: int | None = None  # smoke only: a cap on iterations per epoch
    data_seed: int = 0  # the synthetic stand-in's seed (the real splits are U2PL's)
    # runtime
    amp: bool = True  # mixed precision on CUDA: bf16 where supported, else fp16 + loss scaler
    device: str = "auto"
    workers: int = 0  # DataLoader worker processes
    results_dir: str = "data/results"
    work_dir: str = "data/work"
    prepared_dir: str = "data/prepared"
    allow_stand_in: bool = False  # the paper preset on the synthetic stand-in (refused unless asked for)

    def __post_init__(self) -> None:
        from imlib.study_a.data import DATASETS, SPLITS
        from imlib.study_a.hosts import get_host

        host = get_host(self.host)
        if self.plugin not in PLUGINS:
            raise ValueError(f"plugin must be one of {PLUGINS}, got {self.plugin!r}")
        if self.dataset not in DATASETS:
            raise ValueError(f"Study A dataset must be one of {DATASETS}, got {self.dataset!r}")
        if self.split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {self.split!r}")
        self.options = resolve_options(f"host {self.host!r}", host.OPTIONS, self.options)
        if self.plugin == "none" and self.plugin_options:
            raise ValueError(f"plugin options {sorted(self.plugin_options)} given without --plugin im")
        if self.plugin == "im":
            self.plugin_options = resolve_options("the IM plug-in", PLUGIN_OPTIONS, self.plugin_options)
            variant = self.plugin_options["variant"]
            if variant in "MO" and not host.uses_unlabeled:
                raise ValueError(f"variant {variant} changes a host's unsupervised losses; {host.name} has none "
                                 "(use variant G)")
            if variant == "O" and host.online_im is None:
                raise ValueError(f"variant O needs two predictors per step; {host.name} has none")
        multiple = host.RECIPE.output_stride  # crops and windows must be multiples of it (DINOv2: the patch)
        for name in ("crop", "eval_window"):
            if self.resolved(name) % multiple:
                raise ValueError(f"{name} {self.resolved(name)} is not a multiple of {multiple}, which "
                                 f"{host.name}'s network needs (e.g. {self.resolved(name) // multiple * multiple})")
        for name in ("epochs", "crop", "total_batch", "ohem_min_kept", "eval_window", "eval_stride",
                     "max_iterations_per_epoch"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be at least 1 (or None: the host's recipe), got {value}")
        if self.eval_every < 1:
            raise ValueError(f"eval_every must be at least 1, got {self.eval_every}")

    # --- what the run uses -------------------------------------------------------------------------------
    @property
    def recipe(self):
        from imlib.study_a.hosts import get_host

        return get_host(self.host).RECIPE

    def resolved(self, name: str) -> Any:
        """A schedule field: its value, or the host recipe's when None."""
        value = getattr(self, name)
        return getattr(self.recipe, name) if value is None else value

    @property
    def variant(self) -> str:
        return self.plugin_options.get("variant", "none") if self.plugin == "im" else "none"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def semantic(self) -> dict[str, Any]:
        """The settings that change the weights (everything but names, paths and the runtime)."""
        return {k: v for k, v in self.to_dict().items() if k not in RUNTIME_FIELDS}

    @property
    def method_name(self) -> str:
        """``unimatch`` or ``unimatch+im`` (variant G) / ``unimatch+im-m`` / ``unimatch+im-o``."""
        if self.plugin == "none":
            return self.host
        return self.host + "+im" + ("" if self.variant == "G" else "-" + self.variant.lower())

    @property
    def run_id(self) -> str:
        """``study_a/<dataset>/<host[+im]>/<split>/<preset>-seed<s>``, plus a hash when settings differ from the
        preset's (so that they never share a record)."""
        base = make_config(self.preset, host=self.host, dataset=self.dataset, split=self.split, seed=self.seed,
                           plugin=self.plugin, plugin_options={"variant": self.variant} if self.plugin == "im" else {}) if self.preset in PRESETS else None
        differ = {} if base is None else {k: v for k, v in self.semantic().items() if base.semantic()[k] != v}
        suffix = ("-v" + hashlib.sha256(json.dumps(differ, sort_keys=True).encode()).hexdigest()[:8]) if differ else ""
        split = self.split.replace("/", "_")
        return f"study_a/{self.dataset}/{self.method_name}/{split}/{self.preset}-seed{self.seed}{suffix}"

    def teacher_configs(self) -> list[StudyAConfig]:
        """Variants G and M: the host runs (without IM) whose networks label the unlabeled images."""
        n = self.plugin_options["n_teachers"]
        return [dataclasses.replace(self, plugin="none", plugin_options={}, seed=self.seed * n + i) for i in range(n)]


# The smoke scale: a ResNet-18 at 64-px crops on the synthetic stand-in, a few iterations, a CPU code check
# (numbers mean nothing). Supervised walks its labeled list per epoch (the official rule), so it gets more
# epochs to see about as many steps as the others.
SMOKE = dict(encoder="resnet18", dataset="synthetic-cityscapes", crop=64, total_batch=2, epochs=2,
             max_iterations_per_epoch=6, ohem_min_kept=500, eval_window=64, eval_stride=42, amp=False)
SMOKE_EPOCHS = {"supervised": 6}
# the DINOv2 hosts at smoke scale: 4-block ViTs (SegKC's senior a ViT-B) at crops and windows of 4 x 4 patches
_SMOKE_VIT = dict(encoder="dinov2-s14-d4", crop=56, eval_window=56, eval_stride=28)
SMOKE_HOSTS: dict[str, dict[str, Any]] = {
    "unimatch_v2": _SMOKE_VIT,
    "segkc": {**_SMOKE_VIT, "options": {"senior_encoder": "dinov2-b14-d4"}},
}
PRESETS: dict[str, dict[str, Any]] = {"paper": {}, "smoke": SMOKE}
PRESET_PURPOSE = {"paper": "each host's official Cityscapes recipe (GPUs; the real Cityscapes)",
                  "smoke": "a CPU code check on the synthetic stand-in (ResNet-18 at 64-px crops, 4-block DINOv2 "
                           "ViTs at 56-px crops; a few steps)"}


def make_config(preset: str = "smoke", **overrides: Any) -> StudyAConfig:
    """The preset's configuration with ``overrides`` (unknown keys and options fail here, by name)."""
    if preset not in PRESETS:
        raise ValueError(f"unknown Study A preset {preset!r}; expected one of {sorted(PRESETS)}")
    check_known_fields(StudyAConfig, overrides, "Study A config keys")
    base = dict(PRESETS[preset])
    if preset == "smoke":
        host = overrides.get("host", StudyAConfig.host)
        if host in SMOKE_EPOCHS:
            base["epochs"] = SMOKE_EPOCHS[host]
        base.update(SMOKE_HOSTS.get(host, {}))
        if "options" in base and "options" in overrides:  # the caller's host options on top of the smoke ones
            overrides = {**overrides, "options": {**base["options"], **overrides["options"]}}
    return StudyAConfig(**{**base, "preset": preset, **overrides})
