"""Run a grid of (dataset, method, seed) cells: skip cells whose record exists, record failures and
go on with the rest, report at the end.

Each cell runs ``imlib.methods.run`` in this process and writes one record atomically, so stopping the
batch at any point and starting it again finishes only what is missing.
"""
from __future__ import annotations

import itertools
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from imlib import methods, results
from imlib.config import RunConfig, make_config

STUDY_B_SMOKE_DATASETS = ("synthetic-lesion", "synthetic-cells", "synthetic-scenes")
STUDY_B_SMOKE_METHODS = ("ldt", "aldt", "fdt", "afdt", "me", "im")


@dataclass
class BatchReport:
    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failed


def expand_grid(study: str, preset: str, datasets: Sequence[str], method_names: Sequence[str],
                seeds: Sequence[int], overrides: dict[str, Any] | None = None) -> list[RunConfig]:
    return [make_config(preset, study=study, dataset=d, method=m, seed=s, **(overrides or {}))
            for d, m, s in itertools.product(datasets, method_names, seeds)]


def run_batch(cells: list[RunConfig], progress: bool = True) -> BatchReport:
    report = BatchReport()
    t0 = time.perf_counter()
    bar = tqdm(cells, desc="batch", disable=not progress)
    for cfg in bar:
        bar.set_postfix_str(cfg.run_id)
        path = results.record_path(cfg.results_dir, cfg.run_id)
        if path.exists():
            report.skipped.append(cfg.run_id)
            continue
        try:
            results.write_json_atomic(methods.run(cfg, progress=progress), path)
            report.done.append(cfg.run_id)
        except Exception:  # one failing cell must not stop the others
            tail = "".join(traceback.format_exc().splitlines(keepends=True)[-15:])
            report.failed[cfg.run_id] = tail
            fail = Path(cfg.results_dir) / "_failures" / f"{cfg.run_id.replace('/', '__')}.txt"
            fail.parent.mkdir(parents=True, exist_ok=True)
            fail.write_text(tail)
    report.seconds = time.perf_counter() - t0
    return report
