"""Run a grid of (dataset, method, seed) cells: skip cells whose record exists, record failures and
go on with the rest, report at the end.

Cells run in worker processes (``jobs`` at once; on the CPU each worker uses ``threads`` threads, since
two single-threaded trainings of these small U-Nets get ~1.8x the throughput of one two-threaded one).
Reference cells run first, so that Model Ensemble and IM reuse the LDT models of their seed instead of
training them again. Every cell writes its record atomically: stopping the batch at any point and
starting it again finishes only what is missing.
"""
from __future__ import annotations

import itertools
import multiprocessing as mp
import os
import time
import traceback
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from imlib import results
from imlib.config import RunConfig, make_config
from imlib.methods.reference import REFERENCES

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


def run_cell(cfg: RunConfig, threads: int | None = None) -> tuple[str, str | None, str]:
    """Run one cell and write its record; returns (run_id, failure tail or None, summary)."""
    import torch

    from imlib import methods

    if threads:
        torch.set_num_threads(threads)
    try:
        rec = methods.run(cfg, progress=False)
        results.write_json_atomic(rec, results.record_path(cfg.results_dir, cfg.run_id))
        metric = rec["task"]["metric"]
        return cfg.run_id, None, f"{metric} {rec['result']['test'][metric]:.3f}, {rec['timing']['total_s']:.0f} s"
    except Exception:  # one failing cell must not stop the others
        tail = "".join(traceback.format_exc().splitlines(keepends=True)[-15:])
        fail = Path(cfg.results_dir) / "_failures" / f"{cfg.run_id.replace('/', '__')}.txt"
        fail.parent.mkdir(parents=True, exist_ok=True)
        fail.write_text(tail)
        return cfg.run_id, tail, "failed"


def default_jobs() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else max(1, min(os.cpu_count() or 1, 8))


def run_batch(cells: list[RunConfig], jobs: int = 1, progress: bool = True) -> BatchReport:
    report = BatchReport()
    t0 = time.perf_counter()
    todo = []
    for cfg in cells:
        if results.record_path(cfg.results_dir, cfg.run_id).exists():
            report.skipped.append(cfg.run_id)
        else:
            todo.append(cfg)
    phases = [[c for c in todo if c.method in REFERENCES], [c for c in todo if c.method not in REFERENCES]]
    bar = tqdm(total=len(todo), desc="batch", disable=not progress)
    threads = max(1, (os.cpu_count() or 1) // max(jobs, 1))

    def finish(run_id: str, tail: str | None, summary: str) -> None:
        if tail is None:
            report.done.append(run_id)
        else:
            report.failed[run_id] = tail
        bar.update()
        bar.write(f"{'ok    ' if tail is None else 'FAILED'} {run_id}: {summary}")

    for phase in phases:
        if jobs <= 1:
            for cfg in phase:
                finish(*run_cell(cfg))
            continue
        with ProcessPoolExecutor(max_workers=jobs, mp_context=mp.get_context("spawn")) as pool:
            futures = [pool.submit(run_cell, cfg, threads) for cfg in phase]
            for f in as_completed(futures):
                finish(*f.result())
    bar.close()
    report.seconds = time.perf_counter() - t0
    return report
