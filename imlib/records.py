"""Run records: what one run of a method leaves behind, as typed dataclasses.

One JSON file per run (``<results_dir>/<run_id>.json``, written atomically) holds the configuration,
every generation with its trained models and their validation and test metrics, the headline result
(the generation and model chosen on validation), timings and provenance (package versions, git commit,
device, where the data came from). :func:`load` validates a file against these classes and names the
file and field that do not fit; records written by older code are brought up to date by :func:`migrate`.

Layout (``SCHEMA_VERSION``)::

    RunRecord
      config: RunConfig                 every setting, the method's options too
      dataset: DatasetInfo              name, synthetic or not, sizes
      task: TaskInfo                    kind, headline metric, class names
      result: Headline                  generation and model chosen on val
      generations: [GenerationRecord]   0 = supervised (ME/IM: the teachers)
        models: [ModelRecord]           best first on val; per-epoch history
        pseudo_labels: PseudoLabelStats ME/IM: mask share, agreement
      timing: Timing, environment: Environment
"""
from __future__ import annotations

import base64
import dataclasses
import json
import os
import types
import typing
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import numpy as np
import torch

from imlib.config import RunConfig, fits_type
from imlib.selection import candidate_generations, choose_headline, improves

SCHEMA_VERSION = 4
STUDY_A_FOLDER = "study_a"  # Study A records live here, read by imlib.study_a.records
Scores = dict[str, float]  # metric name -> value, e.g. {"iou": 0.71, "dice": 0.83}


class RecordError(ValueError):
    """A run record that does not fit the schema; the message names the file and the field."""


@dataclass
class EncodedArray:
    """A small array as JSON text (zlib-compressed, base64): figure material inside a record."""

    shape: list[int]
    dtype: str
    data: str

    @staticmethod
    def encode(a: np.ndarray | torch.Tensor) -> EncodedArray:
        a = a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)
        if a.dtype == bool:
            a = a.astype(np.uint8)
        return EncodedArray(list(a.shape), str(a.dtype),
                            base64.b64encode(zlib.compress(np.ascontiguousarray(a).tobytes(), 9)).decode())

    def decode(self) -> np.ndarray:
        raw = zlib.decompress(base64.b64decode(self.data))
        return np.frombuffer(raw, dtype=self.dtype).reshape(self.shape).copy()


@dataclass
class Showcase:
    """The mask and pseudo-label of the first few unlabeled images (before the image filter)."""

    unlabeled_index: list[int]
    mask: EncodedArray  # (n, H, W) uint8
    label: EncodedArray  # (n, L, H, W) uint8
    kept: list[bool]  # whether the binary image filter kept the image


@dataclass
class PseudoLabelStats:
    """What the teachers of a generation produced for the unlabeled images (IM and ME)."""

    unlabeled: int
    kept: int  # pairs the students trained on
    mask_fraction: float  # share of the kept pairs' pixels inside the inconsistency mask
    pseudo_label_accuracy: float  # agreement with the hidden true labels outside the mask (diagnostic only)
    showcase: Showcase | None = None


@dataclass
class ModelRecord:
    """One trained model: its scores at the checkpoint chosen on validation, and its training history."""

    name: str
    val: Scores
    test: Scores
    best_epoch: int
    seconds: float
    reused: bool  # loaded from the model cache (e.g. the LDT models an IM run starts from)
    checkpoint: str
    evaluated: str  # the network kept: "student", or "teacher" (a mean teacher's EMA, when it validated better)
    history: list[dict[str, Any]] = field(default_factory=list)  # per epoch: loss (and its parts), val score, seconds


@dataclass
class GenerationRecord:
    """The models of one generation (or the one set of a non-generational method), best first."""

    generation: int
    selected: str  # the top-1 model on validation
    val: Scores
    test: Scores
    test_mean: float  # the headline metric's mean over all models of the generation
    test_std: float
    models: list[ModelRecord]
    role: str | None = None  # e.g. "teachers (LDT)" for generation 0 of ME and IM
    teachers: list[str] | None = None  # the previous generation's models that labeled this one's data
    train_images: int | None = None
    pseudo_labels: PseudoLabelStats | None = None

    def model(self, name: str) -> ModelRecord:
        return next(m for m in self.models if m.name == name)


@dataclass
class DatasetInfo:
    name: str
    synthetic: bool
    stands_in_for: str | None  # the paper dataset a synthetic task stands in for
    sizes: dict[str, int]
    provenance: dict[str, Any]
    alpha: float  # the U-Net width the run used

    @property
    def paper_dataset(self) -> str:
        """The dataset a run counts for in the paper's tables: the one a stand-in replaces, else its own."""
        return self.stands_in_for or self.name

    @property
    def description(self) -> str:
        if self.synthetic:
            return f"synthetic stand-in for {self.stands_in_for}"
        return "real: " + str(self.provenance.get("protocol", "prepared"))


@dataclass
class TaskInfo:
    kind: str
    metric: str
    higher_is_better: bool
    classes: list[str]


@dataclass
class TeacherScores:
    """A generational run's teachers: the top-1 model of generation 0 (its LDT models), what its own
    generations have to beat."""

    model: str
    val: Scores
    test: Scores


@dataclass
class Headline:
    """The run's reported number: the top-1 model of the generation whose top-1 is best on validation."""

    generation: int
    model: str
    val: Scores
    test: Scores
    final_generation_test: Scores
    # every model the headline was chosen from (all models of the candidate generations): how many, and
    # their mean test score of the headline metric, beside the top-1 (pools of different sizes favour
    # the larger one's top-1; the mean does not)
    candidates: int
    candidates_test_mean: float
    # which generations were candidates (imlib.selection.SELECTION_RULES), and, for a generational run, its
    # LDT teachers (generation 0's top-1) with whether the headline is worse than them on validation
    selection: str = "paper"
    teachers: TeacherScores | None = None
    below_teachers: bool | None = None


@dataclass
class Timing:
    total_s: float
    data_s: float
    train_s: float  # training of the models trained in this run (reused ones not counted)
    packed_models: int = 1  # supervised models trained together in one packed network (imlib.packed)


@dataclass
class DeviceInfo:
    type: str
    name: str | None = None
    threads: int | None = None

    def __str__(self) -> str:
        return f"{self.type} ({self.name})" if self.name else self.type


@dataclass
class Environment:
    python: str
    platform: str
    packages: dict[str, str | None]
    device: DeviceInfo
    git_commit: str
    imlib_version: str | None = None  # the companion's release (records before 0.2.0 carry none)
    precision: str | None = None  # bf16, fp16 (with a loss scaler) or fp32: what the training computed in

    @staticmethod
    def current(device: torch.device, amp: bool = True) -> Environment:
        """This process's environment (package versions, the device and precision, the git commit)."""
        import platform

        from imlib import __version__, provenance
        from imlib.engine import precision_name

        return Environment(python=platform.python_version(), platform=platform.platform(),
                           packages=provenance.package_versions(),
                           device=DeviceInfo(**provenance.device_description(device)),
                           git_commit=provenance.git_commit(), imlib_version=__version__,
                           precision=precision_name(device, amp))


@dataclass
class RunRecord:
    """One Study B run as saved in its JSON file: configuration, data, task, headline result, every
    generation's models and provenance; the book's tables and figures read only these."""

    run_id: str
    created: str
    config: RunConfig
    dataset: DatasetInfo
    task: TaskInfo
    result: Headline
    generations: list[GenerationRecord]
    timing: Timing
    environment: Environment
    schema: int = SCHEMA_VERSION

    @property
    def headline_test(self) -> float:
        """The test value of the run's headline metric."""
        return self.result.test[self.task.metric]

    def generation(self, number: int) -> GenerationRecord:
        return next(g for g in self.generations if g.generation == number)

    def selected_model(self) -> ModelRecord:
        return self.generation(self.result.generation).model(self.result.model)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        return {"schema": d.pop("schema"), **d}


# --- reading, writing, migrating -----------------------------------------------------------------

def record_path(results_dir: str | Path, run_id: str) -> Path:
    return Path(results_dir) / f"{run_id}.json"


def write_json_atomic(obj: Any, path: Path) -> None:
    """Write to a temporary file in the same folder, then rename: a file is whole or absent."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "w") as f:
            json.dump(obj, f, indent=1, sort_keys=False, allow_nan=False)  # NaN is not JSON: fail, do not write it
            f.write("\n")
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)


def save(record: RunRecord, path: Path) -> None:
    write_json_atomic(record.to_dict(), Path(path))


def load(path: str | Path) -> RunRecord:
    """Read and validate a record (migrating older schemas); errors name the file and the field."""
    path = Path(path)
    if path.is_dir():
        raise RecordError(f"{path}: a folder, not a run record (records are JSON files)")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"), parse_constant=_reject_constant)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise RecordError(f"{path}: not a valid run record ({e})") from None
    if not isinstance(raw, dict):
        raise RecordError(f"{path}: a run record is a JSON object, got {type(raw).__name__}")
    try:
        return from_dict(migrate(raw))
    except RecordError as e:
        raise RecordError(f"{path}: {e}") from None


def _reject_constant(name: str) -> None:
    raise json.JSONDecodeError(f"{name} is not a number JSON allows", name, 0)


def load_all(root: str | Path) -> list[RunRecord]:
    """Every record under ``root`` (sorted by path); none when the folder does not exist. Study A records
    (``root/study_a/``) have their own schema and reader: :func:`imlib.study_a.records.load_all`; folders
    whose name starts with ``_`` hold the batches' bookkeeping (``_failures``, ``_slurm``), not records."""
    root = Path(root)
    return [load(p) for p in record_files(root) if p.relative_to(root).parts[0] != STUDY_A_FOLDER]


def record_files(root: str | Path) -> list[Path]:
    """The run record files under ``root`` (both studies), sorted; folders whose name starts with ``_`` hold
    the batches' bookkeeping (``_failures``, ``_slurm``), not records."""
    root = Path(root)
    if not root.exists():
        return []
    return [p for p in sorted(root.rglob("*.json")) if not p.relative_to(root).parts[0].startswith("_")]


def from_dict(raw: dict[str, Any]) -> RunRecord:
    """A record of the current schema from its JSON form (raises :class:`RecordError` naming the field)."""
    if raw.get("schema") != SCHEMA_VERSION:
        raise RecordError(f"schema {raw.get('schema')!r}, expected {SCHEMA_VERSION} (use migrate)")
    return build_typed(RunRecord, raw, "record")


# How each older schema becomes the next one: the single place that knows old layouts.
_IM_OPTION_FIELDS = {"im_mode": "mode", "im_erode": "erode", "im_dilate": "dilate", "im_filter": "filter"}


def _schema_1_to_2(rec: dict[str, Any]) -> dict[str, Any]:
    """Schema 1 (before the method registry): ``config.extra`` and the ``im_*`` config fields became the
    method's declared ``options``; a generation's ``members`` became ``models``; the SSL baselines'
    per-generation ``hyperparameters`` moved into ``config.options``."""
    rec = json.loads(json.dumps(rec))  # a deep copy
    config = rec.get("config", {})
    options = dict(config.pop("extra", {}).get("options", {}))
    im_options = {new: config.pop(old) for old, new in _IM_OPTION_FIELDS.items() if old in config}
    if config.get("method") == "im":
        options.update(im_options)
    for g in rec.get("generations", []):
        if "members" in g:
            g["models"] = g.pop("members")
        options.update(g.pop("hyperparameters", {}) or {})
    config["options"] = options
    env = rec.get("environment", {})
    env.get("device", {}).setdefault("threads", None)
    rec["schema"] = 2
    return rec


MEAN_TEACHERS_BEFORE_SCHEMA_3 = ("imas", "fpl", "u2pl")  # they validated and kept only their EMA teacher


def _schema_2_to_3(rec: dict[str, Any]) -> dict[str, Any]:
    """Schema 3: every model says which network it kept (``evaluated``), and the headline says how many
    models it was chosen from and their mean test score."""
    rec = json.loads(json.dumps(rec))
    method = rec.get("config", {}).get("method")
    generations = rec.get("generations", [])
    for g in generations:
        for m in g.get("models", []):
            teacher = method in MEAN_TEACHERS_BEFORE_SCHEMA_3 and g.get("generation") == 0
            m.setdefault("evaluated", "teacher" if teacher else "student")
    result, metric = rec.get("result", {}), rec.get("task", {}).get("metric")
    pool = [m for g in candidate_generations(generations, lambda g: g.get("generation", 0)) for m in g.get("models", [])]
    if metric and pool and all(metric in m.get("test", {}) for m in pool):
        result.setdefault("candidates", len(pool))
        result.setdefault("candidates_test_mean", sum(m["test"][metric] for m in pool) / len(pool))
    rec["schema"] = 3
    return rec


def _schema_3_to_4(rec: dict[str, Any]) -> dict[str, Any]:
    """Schema 4: the headline names its selection rule (all earlier runs: the paper's) and, for a generational
    run, carries its teachers' scores (generation 0's top-1) and whether it is worse than them on validation."""
    rec = json.loads(json.dumps(rec))
    result, task = rec.get("result", {}), rec.get("task", {})
    result.setdefault("selection", "paper")
    generations, metric = rec.get("generations", []), task.get("metric")
    if metric and "higher_is_better" in task and all(metric in g.get("val", {}) for g in generations):
        choice = choose_headline(generations, lambda g: g.get("generation", 0), lambda g: g["val"][metric],
                                 task["higher_is_better"], result["selection"])
        if choice.teachers is not None:
            t = choice.teachers
            result.setdefault("teachers", {"model": t.get("selected"), "val": t.get("val"), "test": t.get("test")})
            result.setdefault("below_teachers", improves(t["val"][metric], result.get("val", {}).get(metric, t["val"][metric]),
                                                         task["higher_is_better"]))
    rec["schema"] = 4
    return rec


MIGRATIONS = {1: _schema_1_to_2, 2: _schema_2_to_3, 3: _schema_3_to_4}


def migrate(rec: dict[str, Any]) -> dict[str, Any]:
    """Bring a record's JSON form to ``SCHEMA_VERSION``, one schema at a time."""
    version = rec.get("schema")
    while version != SCHEMA_VERSION:
        if version not in MIGRATIONS:
            raise RecordError(f"unknown schema {version!r} (this code reads {sorted(MIGRATIONS)} and {SCHEMA_VERSION})")
        rec = MIGRATIONS[version](rec)
        version = rec["schema"]
    return rec


def build_typed(tp: Any, value: Any, where: str) -> Any:
    """``value`` (parsed JSON) checked against the type ``tp`` and turned into it; dataclasses recursively."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        errors = []
        for a in options:
            try:
                return build_typed(a, value, where)
            except RecordError as e:
                errors.append(str(e))
        raise RecordError(errors[0] if len(errors) == 1 else f"{where}: {value!r} fits none of {options}")
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise RecordError(f"{where}: expected an object ({tp.__name__}), got {type(value).__name__}")
        hints = typing.get_type_hints(tp)
        known = {f.name: f for f in dataclasses.fields(tp) if f.init}
        unknown = sorted(set(value) - set(known))
        if unknown:
            raise RecordError(f"{where}: unknown fields {unknown} for {tp.__name__}")
        kwargs = {}
        for name, f in known.items():
            if name in value:
                kwargs[name] = build_typed(hints[name], value[name], f"{where}.{name}")
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise RecordError(f"{where}: missing field {name!r} of {tp.__name__}")
        try:
            return tp(**kwargs)
        except (TypeError, ValueError) as e:
            raise RecordError(f"{where}: {e}") from None
    if origin is list:
        if not isinstance(value, list):
            raise RecordError(f"{where}: expected a list, got {type(value).__name__}")
        return [build_typed(args[0], v, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise RecordError(f"{where}: expected an object, got {type(value).__name__}")
        return {k: build_typed(args[1], v, f"{where}.{k}") for k, v in value.items()}
    if tp is Any:
        return value
    if tp not in (float, int, str, bool):
        raise RecordError(f"{where}: no rule to read type {tp!r}")
    if not fits_type(value, tp):
        raise RecordError(f"{where}: expected {tp.__name__}, got {value!r}")
    return float(value) if tp is float else value
