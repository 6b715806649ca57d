"""Run configuration and the presets.

``paper`` is the paper's protocol as the authors' official code runs it (the paper does not list its
Study B settings): AdamW lr 3e-3, batch 32, 50 epochs of floor(N / 32) steps, best-on-validation
checkpoint, 10 reference models per run, IM with n teachers out of K = 5 students per generation and 5
generations. ``mini`` is the same protocol reduced to CPU
scale (fewer images, epochs and models, each count > 1 where it selects). ``smoke`` is a code check:
tiny synthetic images, every model the same small step budget (``steps_per_epoch``), fewer models.

Every field declares what it affects (``scope``), and that alone decides which fields identify a
trained model (see :func:`semantic_fields`): there is no hand-kept list of cache-key fields.
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import math
import types
import typing
from dataclasses import dataclass, field, fields
from typing import Any

# The original used tfa.optimizers.AdamW(learning_rate=3e-3, weight_decay=1e-4). TFA's decoupled decay
# subtracts weight_decay * w per step, PyTorch's AdamW subtracts lr * weight_decay * w, so the
# equivalent PyTorch value is 1e-4 / 3e-3.
PAPER_LR = 3e-3
PAPER_WEIGHT_DECAY = 1e-4 / PAPER_LR

# What a field affects. A supervised reference model depends on DATA and TRAINING fields only (so the
# LDT models of a seed serve LDT, Model Ensemble and IM alike); a method's own models also on METHOD
# fields. REPORT fields change what a record reports from the same models (so they name the record, not a
# model). RUN fields name the run, RUNTIME fields say where and how it runs; neither changes weights.
RUN, DATA, TRAINING, METHOD, REPORT, RUNTIME = "run", "data", "training", "method", "report", "runtime"
SCOPES = (RUN, DATA, TRAINING, METHOD, REPORT, RUNTIME)
RECORD_SCOPES = (DATA, TRAINING, METHOD, REPORT)  # the scopes whose fields tell two runs' records apart


# RunConfig.inference: how a multi-class model's outputs become classes (see the field)
INFERENCE = ("paper", "real-classes")
SELECTION = ("paper", "with-teachers")  # RunConfig.selection: the keys of imlib.selection.SELECTION_RULES


def _f(default: Any, scope: str, **kw: Any) -> Any:
    return field(default=default, metadata={"scope": scope}, **kw)


@dataclass
class RunConfig:
    """Everything that defines one Study B run. Each field declares its scope (run, data, training, ...),
    which decides whether it identifies a trained model; ``--set KEY=VALUE`` overrides any field."""

    study: str = _f("b", RUN)
    dataset: str = _f("synthetic-lesion", DATA)
    method: str = _f("ldt", RUN)
    seed: int = _f(0, TRAINING)  # varies the models; the split stays ``data_seed``'s
    preset: str = _f("paper", RUN)
    # data
    data_seed: int = _f(42, DATA)  # the paper keeps one split (seed 42) for all runs
    labeled_fraction: float = _f(0.1, DATA)
    image_size: int = _f(256, DATA)  # synthetic datasets only; real datasets are prepared at their own size
    n_train: int = _f(2594, DATA)  # synthetic sizes mirror ISIC 2018 (2594 train / 100 val / 1000 test)
    n_val: int = _f(100, DATA)
    n_test: int = _f(1000, DATA)
    # model
    alpha: float | None = _f(None, TRAINING)  # None: the dataset's default (ISIC 0.5, others 1)
    bn_momentum: float = _f(0.01, TRAINING)  # Keras' 0.99; smoke runs use 0.1 (too few steps for slow BN statistics)
    # training
    epochs: int = _f(50, TRAINING)
    batch_size: int = _f(32, TRAINING)
    steps_per_epoch: int | None = _f(None, TRAINING)  # None: floor(N / batch_size), the paper's
    lr: float = _f(PAPER_LR, TRAINING)
    weight_decay: float = _f(PAPER_WEIGHT_DECAY, TRAINING)
    aug_copies: int = _f(9, TRAINING)  # ALDT / AFDT: augmented copies per labeled image
    # multi-class: "paper" predicts by the argmax over every output, the IM class included (an IM-class pixel
    # is an error, as the paper counts it); "real-classes" leaves the IM class out of every prediction
    # (validation, test and the teachers' pseudo-labels). It picks the checkpoints, so it is a training field
    inference: str = _f("paper", TRAINING)
    # CPU threads of a run: a float sum's order, so the numbers, depend on it; 1 everywhere (the committed
    # records' setting) makes a run reproduce on any machine. GPU runs ignore it.
    cpu_threads: int = _f(1, TRAINING)
    # models of a set (references, a generation's students) trained together in one packed network
    # (imlib.packed); grouped and plain convolutions round differently, so it is a training field. None:
    # resolved by the run (``resolve_packing``) to what measured faster on its device
    pack_models: int | None = _f(None, TRAINING)
    # how many models a method trains and keeps
    n_models: int = _f(10, METHOD)  # reference models per run (the paper trains 10, keeps the top 4)
    n_teachers: int = _f(2, METHOD)
    ssl_models: int = _f(3, METHOD)  # models per semi-supervised baseline run (top-1 on validation is reported)
    n_students: int = _f(5, METHOD)
    generations: int = _f(5, METHOD)
    # the method's own options, declared with defaults and reasons in its registry entry
    # (``imlib.methods.registry``); ``make_config`` fills in the defaults
    options: dict[str, Any] = field(default_factory=dict, metadata={"scope": METHOD})
    # which generations the headline is chosen from (imlib.selection.SELECTION_RULES): "paper" (generations
    # 1..G, never the LDT teachers) or "with-teachers" (0..G); every record also keeps its teachers' scores
    selection: str = _f("paper", REPORT)
    # how and where it runs
    amp: bool = _f(True, RUNTIME)  # mixed precision on CUDA: bf16 where supported, else fp16 + loss scaler
    device: str = _f("auto", RUNTIME)
    results_dir: str = _f("data/results", RUNTIME)
    prepared_dir: str = _f("data/prepared", RUNTIME)  # datasets prepared by ``imlib prepare``
    work_dir: str = _f("data/work", RUNTIME)  # trained models, reused and resumed
    # a resumable checkpoint at most once per this many seconds of training (0: after every epoch)
    checkpoint_seconds: float = _f(60.0, RUNTIME)
    # the paper preset on a synthetic stand-in is refused unless asked for (see ``check_stand_in``)
    allow_stand_in: bool = _f(False, RUNTIME)

    def __post_init__(self) -> None:
        check_types(self)
        for name, low in (("epochs", 1), ("batch_size", 1), ("n_models", 1), ("ssl_models", 1), ("n_students", 1),
                          ("generations", 1), ("n_train", 2), ("n_val", 1), ("n_test", 1), ("aug_copies", 1),
                          ("cpu_threads", 1)):
            if getattr(self, name) < low:
                raise ValueError(f"{name} must be at least {low}, got {getattr(self, name)}")
        if not self.checkpoint_seconds >= 0:
            raise ValueError(f"checkpoint_seconds must be >= 0 (0: after every epoch), got {self.checkpoint_seconds}")
        if self.pack_models is not None and self.pack_models < 1:
            raise ValueError(f"pack_models must be at least 1 (1: one model at a time; None: auto), got {self.pack_models}")
        if self.steps_per_epoch is not None and self.steps_per_epoch < 1:
            raise ValueError(f"steps_per_epoch must be at least 1 (or None: the paper's floor(N / batch)), "
                             f"got {self.steps_per_epoch}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"lr must be a positive finite number, got {self.lr}")
        if self.weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay}")
        if not 0 < self.bn_momentum <= 1:
            raise ValueError(f"bn_momentum must be in (0, 1], got {self.bn_momentum}")
        if self.alpha is not None and not self.alpha > 0:
            raise ValueError(f"alpha (the U-Net width) must be positive, got {self.alpha}")
        if self.image_size < 16 or self.image_size % 16:
            raise ValueError(f"image_size must be a multiple of 16 (the U-Net halves it 4 times), got {self.image_size}")
        if self.selection not in SELECTION:
            raise ValueError(f"selection must be one of {', '.join(SELECTION)}, got {self.selection!r}")
        if self.inference not in INFERENCE:
            raise ValueError(f"inference must be one of {', '.join(INFERENCE)}, got {self.inference!r}")
        if self.n_teachers < 2:
            raise ValueError(f"IM needs at least 2 teachers, got n_teachers={self.n_teachers}")
        if self.n_teachers > min(self.n_models, self.n_students):
            raise ValueError(f"n_teachers={self.n_teachers} exceeds the models to choose from "
                             f"(n_models={self.n_models}, n_students={self.n_students})")
        if not 0 < self.labeled_fraction <= 1:
            raise ValueError(f"labeled_fraction must be in (0, 1], got {self.labeled_fraction}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @property
    def run_id(self) -> str:
        """The run's name and record path: study, dataset, method, preset and seed, plus a short hash of the
        settings that differ from the preset (``variant``) so that different settings never share a record."""
        return run_id(self.study, self.dataset, self.method, self.preset, self.seed, self.variant)

    @property
    def variant(self) -> str:
        """The semantic settings that differ from the preset's, as ``key=value, ...`` ("" for the preset's own
        configuration); method options appear as ``option.name=value``."""
        return ", ".join(f"{k}={v!r}" for k, v in sorted(differences_from_preset(self).items()))


@functools.cache
def _field_types() -> dict[str, tuple[Any, ...]]:
    """Each field's allowed types (the members of a union), resolved once."""
    hints = typing.get_type_hints(RunConfig)
    return {f.name: (typing.get_args(hints[f.name]) if typing.get_origin(hints[f.name]) in (typing.Union, types.UnionType)
                     else (hints[f.name],)) for f in fields(RunConfig)}


def check_types(cfg: RunConfig) -> None:
    """Every field has the type it declares (an int is a float too): ``--set lr=abc`` fails here, by name."""
    for name, allowed in _field_types().items():
        value = getattr(cfg, name)
        if not any(fits_type(value, a) for a in allowed):
            names = " or ".join("None" if a is type(None) else getattr(a, "__name__", str(a)) for a in allowed)
            raise ValueError(f"{name} must be {names}, got {value!r}")


def fits_type(value: Any, tp: Any) -> bool:
    """Whether a (parsed JSON or command-line) value has type ``tp``: an int is a float too, a bool is neither."""
    if tp is type(None):
        return value is None
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    origin = typing.get_origin(tp) or tp
    return isinstance(value, origin)


def run_id(study: str, dataset: str, method: str, preset: str, seed: int, variant: str = "") -> str:
    """A run's name, also its record's path under the results folder (``-v<hash>`` for a variant)."""
    suffix = f"-v{hashlib.sha256(variant.encode()).hexdigest()[:8]}" if variant else ""
    return f"study_{study}/{dataset}/{method}/{preset}-seed{seed}{suffix}"


def semantic_differences(a: RunConfig, b: RunConfig) -> dict[str, tuple[Any, Any]]:
    """The data, training and method settings (options included) in which two configurations differ."""
    return {k: (getattr(a, k), getattr(b, k)) for k in semantic_fields(*RECORD_SCOPES)
            if getattr(a, k) != getattr(b, k)}


def describe_differences(differ: dict[str, tuple[Any, Any]]) -> str:
    return "; ".join(f"{k}: {old!r} there, {new!r} here" for k, (old, new) in differ.items())


def differences_from_preset(cfg: RunConfig) -> dict[str, Any]:
    """The data, training and method settings (options included) in which ``cfg`` differs from its preset's
    configuration for the same dataset, method and seed."""
    from imlib.methods.registry import get_method

    if cfg.preset not in PRESETS:
        return {}
    base = RunConfig(**{**PRESETS[cfg.preset], "preset": cfg.preset, "dataset": cfg.dataset, "method": cfg.method,
                        "seed": cfg.seed, "study": cfg.study})
    diff = {k: getattr(cfg, k) for k in semantic_fields(*RECORD_SCOPES)
            if k != "options" and getattr(cfg, k) != getattr(base, k)}
    spec = get_method(cfg.method)
    default_options = spec.resolve_options({})
    given = spec.resolve_options({k: v for k, v in cfg.options.items() if k in spec.options})
    diff.update({f"option.{k}": v for k, v in given.items() if v != default_options[k]})
    # an option the method no longer declares (a record of older code): a setting the preset does not have
    diff.update({f"option.{k}": v for k, v in cfg.options.items() if k not in spec.options})
    return diff


def semantic_fields(*scopes: str) -> tuple[str, ...]:
    """The names of the fields of the given scopes, in declaration order."""
    unknown = set(scopes) - set(SCOPES)
    if unknown:
        raise ValueError(f"unknown scopes {sorted(unknown)}; expected some of {SCOPES}")
    return tuple(f.name for f in fields(RunConfig) if f.metadata["scope"] in scopes)


PRESETS: dict[str, dict[str, Any]] = {
    "paper": {},
    # The paper's protocol at CPU scale: every model trains ``epochs`` passes over its OWN training set
    # (floor(N / batch) steps each, as the paper), so the methods that add data (FDT, AFDT, ME, IM) get the
    # steps they need; the U-Net width is each task's paper value. Reduced: 400 training images (40
    # labeled, 10 % as the paper), 12 epochs, batch 8, 4 reference models (paper 10), 2 models per
    # semi-supervised baseline (paper preset 3), 2 generations of 3 students with 2 teachers (paper 5 x 5,
    # n = 2), 2 augmented copies per image for ALDT / AFDT (paper 9: AFDT alone would otherwise cost
    # more than the rest of the study). Study B for 3 tasks x 12 methods x 3 seeds in about two hours on
    # 2 cores. BatchNorm momentum 0.1: a few hundred steps are too few for Keras' slow statistics.
    "mini": dict(image_size=48, n_train=400, n_val=64, n_test=200, epochs=12, batch_size=8, steps_per_epoch=None,
                 n_models=4, ssl_models=2, n_students=3, generations=2, n_teachers=2, aug_copies=2, bn_momentum=0.1),
    # A code check in a quarter of an hour on 2 cores, not a protocol: every model gets the same 360
    # steps of 8 images (semi-supervised baselines: 8 labeled + 8 unlabeled) at 48 x 48, the U-Net at half
    # width (alpha 0.5) on every task, one model per baseline and 2 per reference, 2 generations of 2
    # students; see the README for what else differs
    "smoke": dict(image_size=48, n_train=320, n_val=48, n_test=96, epochs=12, batch_size=8,
                  steps_per_epoch=10, n_models=2, ssl_models=1, n_students=2, generations=2, alpha=0.5, bn_momentum=0.1),
}

# The largest set a run trains (the paper's 10 reference models): "pack all" resolves to this
PACK_ALL = 10


def resolve_packing(pack_models: int | None, device_type: str, alpha: float) -> int:
    """How many models of a set train together. Asked for: as asked. Auto: all of a set on a GPU (one
    small U-Net cannot fill it); on the CPU only for narrow networks (alpha <= 0.5), where
    ``benchmarks/packed.py`` measured packing faster (1.1-1.5x), while at alpha 1 it was 0.8-1.0x."""
    if pack_models is not None:
        return pack_models
    return PACK_ALL if device_type == "cuda" or alpha <= 0.5 else 1


# What each preset is for, in one line (the CLI's help, the book's table captions)
PRESET_PURPOSE = {
    "paper": "the paper's protocol (GPU)",
    "mini": "the paper's protocol reduced to CPU scale (epochs over each model's own training set; seeds and intervals)",
    "smoke": "a quick code check (equal small step budgets; not a protocol, numbers not comparable)",
}


def check_stand_in(preset: str, dataset: str, allowed: bool) -> None:
    """Refuse the ``paper`` preset on a synthetic stand-in unless ``allowed``: hours of GPU time would
    produce numbers that look like the paper's protocol but are about made-up images."""
    if preset == "paper" and dataset.startswith("synthetic-") and not allowed:
        raise ValueError(f"preset 'paper' on the synthetic stand-in {dataset!r} trains the paper's protocol on "
                         "made-up images (its numbers are not comparable with the paper's); prepare a real dataset "
                         "(`imlib download isic2018`, then `imlib prepare isic2018 --src data/raw/isic2018`; also "
                         "hela, suim, cityscapes) or allow it explicitly: --stand-in on the command line, "
                         "allow_stand_in=True in Python")


def check_known_fields(cls: type, overrides: dict[str, Any], what: str) -> None:
    """A typo in an override fails by name, before anything is built (both studies' ``make_config``)."""
    names = {f.name for f in fields(cls)}
    unknown = set(overrides) - names
    if unknown:
        raise ValueError(f"unknown {what} {sorted(unknown)}; known: {sorted(names)}")


def make_config(preset: str = "smoke", **overrides: Any) -> RunConfig:
    """The preset's configuration with ``overrides``; the method's options are checked against its
    registry entry and completed with their defaults (a typo fails here, before any training)."""
    from imlib.methods.registry import get_method

    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; expected one of {sorted(PRESETS)}")
    check_known_fields(RunConfig, overrides, "config keys")
    cfg = RunConfig(**{**PRESETS[preset], "preset": preset, **overrides})
    cfg.options = get_method(cfg.method).resolve_options(cfg.options)
    return cfg
