"""Study A run records: one JSON per host run (with or without IM), typed and validated like Study B's.

They live under ``<results_dir>/study_a/`` (Study B's reader leaves that folder to this one). A record says
what produced its numbers: the configuration, the data (real or the synthetic stand-in, split sizes), the
host's recipe, the plug-in (variant, teachers, how much of the unlabeled data the mask removed), the best
and the last evaluation of every network, the schedule with its LR rule, timings and the environment.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imlib.records import Environment, RecordError, build_typed, record_path, write_json_atomic
from imlib.study_a.config import StudyAConfig

SCHEMA_VERSION = 1
RECORD_TYPE = "study-a"


@dataclass
class DataInfo:
    name: str
    synthetic: bool
    stands_in_for: str | None
    split: str
    labeled: int
    unlabeled: int
    val: int
    provenance: dict[str, Any]

    @property
    def description(self) -> str:
        return f"synthetic stand-in for {self.stands_in_for}" if self.synthetic else "real Cityscapes"


@dataclass
class HostInfo:
    key: str
    name: str
    recipe: dict[str, Any]
    options: dict[str, Any]


@dataclass
class PluginInfo:
    variant: str  # G, M or O
    description: str
    options: dict[str, Any]
    teachers: list[str]  # run ids of the host runs whose networks made the IM (none for O)
    teacher_network: str | None  # "teacher" (the EMA) or "student"
    im_pairs: int  # unlabeled images with an IM pseudo-label
    im_fraction: float | None  # mean share of IM pixels per image
    im_fraction_range: list[float] | None  # [min, max] over images
    class_agreement: list[float | None] | None  # per class: share of teacher 1's pixels of it the others agree on


@dataclass
class Result:
    """mIoU (%) on the validation set, sliding window. ``best``: over evaluations and the reported networks
    (what the hosts report; all networks but SegKC's senior); ``last``: the final evaluation's best reported
    network; ``last_scores``: every evaluated network."""

    best_miou: float
    best_epoch: int
    best_network: str
    last_miou: float
    last_network: str
    last_scores: dict[str, float]
    per_class_iou: dict[str, list[float | None]]


@dataclass
class ScheduleInfo:
    world_size: int
    total_batch: int
    batch_per_process: int
    iterations_per_epoch: int
    epochs: int
    total_iterations: int
    lr: float
    lr_rule: str


@dataclass
class TimingInfo:
    total_s: float
    train_s: float
    eval_s: float
    s_per_iteration: float
    resumed_from_epoch: int


@dataclass
class StudyARecord:
    """One Study A run as saved in its JSON file: configuration, data, host, plug-in, result, schedule and
    provenance; the book's Study A tables read only these."""

    run_id: str
    created: str
    config: StudyAConfig
    data: DataInfo
    host: HostInfo
    plugin: PluginInfo | None
    result: Result
    schedule: ScheduleInfo
    timing: TimingInfo
    environment: Environment
    history: list[dict[str, Any]] = field(default_factory=list)
    record_type: str = RECORD_TYPE
    schema: int = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        return {"schema": d.pop("schema"), "record_type": d.pop("record_type"), **d}


def save(record: StudyARecord, results_dir: str | Path) -> Path:
    path = record_path(results_dir, record.run_id)
    write_json_atomic(record.to_dict(), path)
    return path


def load(path: str | Path) -> StudyARecord:
    """Read and validate a Study A record; errors name the file and the field."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as e:
        raise RecordError(f"{path}: not a readable Study A record ({e})") from None
    if not isinstance(raw, dict) or raw.get("record_type") != RECORD_TYPE:
        raise RecordError(f"{path}: not a Study A record (record_type {raw.get('record_type')!r} if a dict)")
    if raw.get("schema") != SCHEMA_VERSION:
        raise RecordError(f"{path}: schema {raw.get('schema')!r}, this code reads {SCHEMA_VERSION}")
    try:
        return build_typed(StudyARecord, raw, "record")
    except RecordError as e:
        raise RecordError(f"{path}: {e}") from None


def load_all(results_dir: str | Path) -> list[StudyARecord]:
    """Every Study A record under ``<results_dir>/study_a`` (sorted by path)."""
    root = Path(results_dir) / "study_a"
    return [load(p) for p in sorted(root.rglob("*.json"))] if root.exists() else []
