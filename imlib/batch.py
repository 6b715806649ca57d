"""Run a grid of (dataset, method, seed) runs: skip runs whose record exists, record failures and
go on with the rest, report at the end.

Each run executes the parameterised ``notebooks/train.py`` with papermill (``executor="notebook"``,
the default: the executed notebook is kept beside the run record; a worker process keeps one kernel for
its runs) or calls :func:`imlib.methods.run`
directly (``executor="inprocess"``, used by the tests). Runs go to worker processes (``jobs`` at once; on
the CPU each run uses ``cfg.cpu_threads`` threads, 1 by default, since two single-threaded trainings of these small U-Nets get
~1.8x the throughput of one two-threaded one; on GPUs ``jobs`` may exceed the GPU count, several runs then
share a GPU). Methods that start from the LDT models of their seed (``MethodSpec.reuses_references``) start
as soon as that seed's LDT run has finished (:func:`plan`), so that they reuse those models instead of
training them again. Every run writes its record atomically: stopping the batch at any point and starting it again
finishes only what is missing.
"""
from __future__ import annotations

import itertools
import multiprocessing as mp
import os
import time
import traceback
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from imlib import kernels, provenance, records
from imlib.config import (DATA, RECORD_SCOPES, TRAINING, RunConfig, describe_differences, make_config, semantic_differences,
                          semantic_fields)
from imlib.data.registry import DATASETS as SYNTHETIC_DATASETS
from imlib.methods.registry import get_method, method_keys
from imlib.paths import TRAIN_NOTEBOOK, TRAIN_NOTEBOOK_A

IN_WORKER = False  # set in batch worker processes (see run_one's handling of Ctrl-C)

# RunConfig fields the train notebook takes as parameters of their own; the rest go in ``overrides``
NOTEBOOK_PARAMETERS = ("study", "dataset", "method", "seed", "labeled_fraction", "preset", "device",
                       "allow_stand_in", "results_dir", "work_dir")


def default_datasets(study: str = "b") -> list[str]:
    """The grid's datasets when none are named: the embedded synthetic tasks (no download needed)."""
    return list(SYNTHETIC_DATASETS)


def default_methods(study: str = "b") -> list[str]:
    """The grid's methods when none are named: every registered method of the study, in the paper's order."""
    return method_keys(study=study)


@dataclass
class BatchReport:
    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    rerun: dict[str, str] = field(default_factory=dict)  # run -> why its existing record is replaced
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failed


def expand_grid(study: str, preset: str, datasets: Sequence[str] | None = None,
                method_names: Sequence[str] | None = None, seeds: Sequence[int] = (0,),
                overrides: dict[str, Any] | None = None) -> list[RunConfig]:
    """One configuration per (dataset, method, seed); unnamed datasets and methods take the defaults."""
    datasets = default_datasets(study) if datasets is None else datasets
    method_names = default_methods(study) if method_names is None else method_names
    return [make_config(preset, study=study, dataset=d, method=m, seed=seed, **(overrides or {}))
            for d, m, seed in itertools.product(datasets, method_names, seeds)]


def notebook_parameters(cfg: RunConfig) -> dict[str, Any]:
    """The train notebook's parameters for a run: its own fields, plus ``overrides`` for every other
    field that differs from the preset (paths made absolute, the kernel runs in notebooks/)."""
    d = cfg.to_dict()
    params = {k: d[k] for k in NOTEBOOK_PARAMETERS}
    params["results_dir"] = str(Path(cfg.results_dir).resolve())
    params["work_dir"] = str(Path(cfg.work_dir).resolve())
    base = make_config(cfg.preset).to_dict()
    params["overrides"] = {k: v for k, v in d.items() if k not in NOTEBOOK_PARAMETERS and v != base[k]}
    return params


_WORKER_KERNEL = None  # a batch worker's kernel, kept for its next runs


def _worker_kernel():
    """The kernel this batch worker's runs execute in, started on first use and kept: a kernel's start and
    the imports of the train notebook cost 6-9 s, a large share of a smoke run. Every run executes the whole
    notebook again (its parameters, data and seeds are its own), so the kernel carries no result from one run
    to the next; it is replaced after a failed run and shut down when the worker exits."""
    global _WORKER_KERNEL
    if _WORKER_KERNEL is None or not _WORKER_KERNEL.is_alive():
        from multiprocessing.util import Finalize

        km = kernels.manager_class(blocking=True)(kernel_name="python3")
        km.start_kernel(cwd=str(TRAIN_NOTEBOOK.parent))
        Finalize(km, _stop_kernel, args=(km,), exitpriority=10)
        _WORKER_KERNEL = km
    return _WORKER_KERNEL


def _stop_kernel(km) -> None:
    """Ask a kept kernel to exit when its worker exits (no SIGINT, see :mod:`imlib.kernels`)."""
    if km.is_alive():
        km.shutdown_kernel()


def _drop_worker_kernel() -> None:
    global _WORKER_KERNEL
    if _WORKER_KERNEL is not None:
        try:
            _WORKER_KERNEL.shutdown_kernel(now=True)
        except Exception:  # already dead
            pass
        _WORKER_KERNEL = None


def _execute_notebook(cfg) -> None:
    import jupytext
    import papermill

    if cfg.study == "a":
        from imlib.study_a import batch as study_a

        notebook, parameters = TRAIN_NOTEBOOK_A, study_a.notebook_parameters(cfg)
    else:
        notebook, parameters = TRAIN_NOTEBOOK, notebook_parameters(cfg)
    record = records.record_path(cfg.results_dir, cfg.run_id)
    out = record.with_suffix(".ipynb")
    out.parent.mkdir(parents=True, exist_ok=True)
    kernel = {"km": _worker_kernel()} if IN_WORKER else {"kernel_manager_class": kernels.manager_class()}
    try:
        papermill.execute_notebook(jupytext.read(notebook), str(out), parameters=parameters,
                                   cwd=str(notebook.parent), progress_bar=False, kernel_name="python3", **kernel)
    except BaseException:
        if IN_WORKER:
            _drop_worker_kernel()  # its state after a failure is unknown: the next run gets a fresh one
        raise
    if not record.exists():
        raise RuntimeError(f"{out} ran but wrote no run record at {record}")


def run_one(cfg: RunConfig, executor: str = "notebook") -> tuple[str, str | None, str]:
    """Run one configuration; returns (run_id, failure tail or None, summary). Failures are also written
    to ``results_dir/_failures/``."""
    return run_job([cfg], executor)[0]


def run_job(cfgs: list[RunConfig], executor: str = "notebook") -> list[tuple[str, str | None, str]]:
    """Run one configuration, or several seeds of one as a seed group (:func:`imlib.methods.run_seeds`,
    in-process); returns (run_id, failure tail or None, summary) per configuration. Failures are also written
    to ``results_dir/_failures/``; a failed seed group fails each of its runs."""
    t0 = time.perf_counter()
    try:
        if len(cfgs) > 1:
            from imlib import methods

            if executor != "inprocess" or cfgs[0].study != "b":
                raise ValueError("seed groups (--pack-seeds) run Study B in-process (--executor inprocess); the "
                                 "notebook executor runs one seed per notebook")
            for cfg, record in zip(cfgs, methods.run_seeds(cfgs)):
                records.save(record, records.record_path(cfg.results_dir, cfg.run_id))
        elif executor == "notebook":
            _execute_notebook(cfgs[0])
        elif executor == "inprocess" and cfgs[0].study == "a":
            from imlib.study_a.run import run

            run(cfgs[0], progress=False)
        elif executor == "inprocess":
            from imlib import methods

            records.save(methods.run(cfgs[0], progress=False), records.record_path(cfgs[0].results_dir, cfgs[0].run_id))
        else:
            raise ValueError(f"executor must be 'notebook' or 'inprocess', got {executor!r}")
        for cfg in cfgs:
            failure_note(cfg).unlink(missing_ok=True)  # an earlier failure of this run is history now
        seconds = f"{time.perf_counter() - t0:.0f} s" + (f" (a group of {len(cfgs)} seeds)" if len(cfgs) > 1 else "")
        return [(cfg.run_id, None, f"{_summary(cfg, records.record_path(cfg.results_dir, cfg.run_id))}, {seconds}")
                for cfg in cfgs]
    except KeyboardInterrupt:
        if not IN_WORKER:
            raise
        # Ctrl-C reaches the whole process group; a worker stops its run quietly and leaves the one line to the
        # main process (records are written atomically, models resume from their last finished epoch)
        return [(cfg.run_id, "interrupted", "interrupted") for cfg in cfgs]
    except Exception as e:  # one failing run must not stop the others
        text = str(e) if type(e).__name__ == "PapermillExecutionError" else traceback.format_exc()
        tail = "".join(text.splitlines(keepends=True)[-15:])
        for cfg in cfgs:
            fail = failure_note(cfg)
            fail.parent.mkdir(parents=True, exist_ok=True)
            fail.write_text(tail)
        return [(cfg.run_id, tail, "failed") for cfg in cfgs]


def seed_jobs(planned: list[tuple[RunConfig, set[str]]]) -> list[tuple[list[RunConfig], set[str]]]:
    """The plan with the runs that differ only in their seed merged into one job each (a seed group, at the
    place of its first run); a job waits for the union of its runs' needs."""
    groups: dict[tuple, list[tuple[RunConfig, set[str]]]] = {}
    for cfg, needs in planned:
        key = (cfg.study, cfg.dataset, cfg.method, cfg.results_dir, cfg.work_dir, cfg.device,
               tuple(repr(getattr(cfg, k)) for k in semantic_fields(*RECORD_SCOPES) if k != "seed"))
        groups.setdefault(key, []).append((cfg, needs))
    jobs = []
    for members in groups.values():
        ids = {c.run_id for c, _ in members}
        jobs.append(([c for c, _ in members], set().union(*(n for _, n in members)) - ids))
    return jobs


def _summary(cfg, path: Path) -> str:
    """The run's headline from its record (which must load: a run that wrote a broken record failed)."""
    if cfg.study == "a":
        from imlib.study_a.batch import summary

        return summary(cfg)
    rec = records.load(path)
    return f"{rec.task.metric} {rec.headline_test:.3f}"


def failure_note(cfg: RunConfig) -> Path:
    """Where the tail of a failed run's traceback is kept (removed when the run later succeeds)."""
    return Path(cfg.results_dir) / "_failures" / f"{cfg.run_id.replace('/', '__')}.txt"


def _init_worker(slots, threads: int) -> None:
    """Pin a worker to one GPU (when slots hold GPU ids) or to ``threads`` CPU threads."""
    global IN_WORKER
    IN_WORKER = True
    slot = slots.get()
    if slot is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(slot)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)
    import torch

    torch.set_num_threads(threads)


def default_jobs() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else max(1, min(os.cpu_count() or 1, 8))


def why_run(cfg: RunConfig, rerun_older: bool, commit: str) -> str | None:
    """Why a run must (re)run, or None when it is done: its record exists and loads (and, with
    ``rerun_older``, was written by this commit). An unreadable record is run again, not counted as done."""
    if cfg.study == "a":
        from imlib.study_a.batch import why_run as why_run_a

        return why_run_a(cfg, rerun_older, commit)
    path = records.record_path(cfg.results_dir, cfg.run_id)
    if not path.exists():
        return "no record yet"
    try:
        record = records.load(path)
    except records.RecordError as e:
        return f"its record is unreadable, run again ({e})"
    differ = semantic_differences(record.config, cfg)
    if differ:
        return f"its record was made with other settings ({describe_differences(differ)})"
    written_by = record.environment.git_commit
    if rerun_older and commit != "unknown" and written_by != commit:
        return f"its record was written by commit {written_by[:12]}, this is {commit[:12]}"
    return None


def still_to_run(configs: list[RunConfig], rerun_older: bool, commit: str, report: BatchReport) -> list[RunConfig]:
    """The configurations that must run (:func:`why_run`); the finished ones are added to ``report.skipped``,
    and why a run with a record runs again to ``report.rerun`` (every executor uses this rule)."""
    todo = []
    for cfg in configs:
        reason = why_run(cfg, rerun_older, commit)
        if reason is None:
            report.skipped.append(cfg.run_id)
        else:
            todo.append(cfg)
            if reason != "no record yet":
                report.rerun[cfg.run_id] = reason
    return todo


def reference_fingerprint(cfg: RunConfig) -> tuple:
    """What decides a seed's reference (LDT) models: runs with equal fingerprints share them."""
    return (cfg.study, cfg.dataset, cfg.seed) + tuple(repr(getattr(cfg, k)) for k in semantic_fields(DATA, TRAINING))


def plan(todo: list[RunConfig]) -> list[tuple[RunConfig, set[str]]]:
    """The batch's runs in the order to start them, each with the runs (of this batch) that must finish first.

    Study B: Model Ensemble and IM start from their seed's LDT models, so each waits for that seed's LDT run
    (or, when the batch has none, for the first run of the seed that trains them), and no longer for the whole
    rest of the batch. Among the runs that may start, the order is: runs whose models were waited for, the LDT
    runs (they unlock others), then the semi-supervised baselines (the slowest, so that parallel workers
    finish together), then the other references."""
    if todo and todo[0].study == "a":
        from imlib.study_a.batch import plan as plan_a

        return plan_a(todo)
    provider: dict[tuple, str] = {}
    for cfg in todo:
        if cfg.method == "ldt":
            provider[reference_fingerprint(cfg)] = cfg.run_id
    needs: dict[str, set[str]] = {}
    for cfg in todo:
        needs[cfg.run_id] = set()
        if get_method(cfg.method).reuses_references:
            key = reference_fingerprint(cfg)
            if key in provider:
                needs[cfg.run_id] = {provider[key]}
            else:
                provider[key] = cfg.run_id  # the first reuser trains them; the others wait for it

    def rank(cfg: RunConfig) -> int:
        if needs[cfg.run_id]:
            return 0
        if cfg.method == "ldt":
            return 1
        return 3 if get_method(cfg.method).kind == "reference" else 2

    return [(c, needs[c.run_id]) for c in sorted(todo, key=rank)]


class _Inline:
    """An executor that runs each job when it is submitted (``jobs`` = 1)."""

    def submit(self, fn, *args) -> Future:
        future: Future = Future()
        future.set_result(fn(*args))
        return future


def schedule(jobs: list[tuple[list[RunConfig], set[str]]], pool, workers: int, executor: str, finish) -> None:
    """Start jobs (a run, or a seed group) as the runs they need finish (in ``jobs``' order, at most
    ``workers`` at once) and hand each run's result to ``finish``. A failed run still releases the runs
    that wait for it (they then train what they needed themselves)."""
    pending, running, finished = list(jobs), {}, set()
    while pending or running:
        for job in list(pending):
            if len(running) >= workers:
                break
            cfgs, needs = job
            if needs <= finished:
                pending.remove(job)
                running[pool.submit(run_job, cfgs, executor)] = job
        if not running:  # cannot happen for a plan made by `plan` (needs point backwards); never hang
            raise RuntimeError(f"batch: runs wait for runs that are not in the batch: {pending}")
        done, _ = wait(list(running), return_when=FIRST_COMPLETED)
        for future in done:
            running.pop(future)
            for result in future.result():
                finished.add(result[0])
                finish(*result)


def run_batch(configs: list[RunConfig], jobs: int = 1, executor: str = "notebook", progress: bool = True,
              rerun_older: bool = False, pack_seeds: bool = False) -> BatchReport:
    """Run the configurations not done yet. ``rerun_older``: also rerun those whose record another commit
    wrote (``make reproduce`` regenerates the committed records this way, and still resumes). ``pack_seeds``:
    the runs that differ only in their seed train together as a seed group (Study B, in-process)."""
    if pack_seeds and (executor != "inprocess" or any(c.study != "b" for c in configs)):
        raise ValueError("--pack-seeds runs Study B in-process (--executor inprocess): the notebook executor runs "
                         "one seed per notebook")
    report = BatchReport()
    t0 = time.perf_counter()
    todo = still_to_run(configs, rerun_older, provenance.git_commit(), report)
    # a progress bar on a terminal only (disable=None: off when stderr is not a TTY, e.g. a log file, where its
    # redraws would interleave with the result lines); each finished run prints one line with the count
    bar = tqdm(total=len(todo), desc="batch", disable=None if progress else True)

    def finish(run_id: str, tail: str | None, summary: str) -> None:
        if tail is None:
            report.done.append(run_id)
        else:
            report.failed[run_id] = tail
        bar.update()
        count = f"[{len(report.done) + len(report.failed)}/{len(todo)}]"
        bar.write(f"{'ok    ' if tail is None else 'FAILED'} {count} {run_id}: {summary}")

    import torch

    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    threads = 1 if gpus else max(1, (os.cpu_count() or 1) // max(jobs, 1))
    planned = [([c], needs) for c, needs in plan(todo)] if not pack_seeds else seed_jobs(plan(todo))
    if jobs <= 1:
        schedule(planned, _Inline(), 1, executor, finish)
    else:
        ctx = mp.get_context("spawn")
        slots = ctx.Queue()
        for i in range(jobs):
            slots.put(i % gpus if gpus else None)
        pool = ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, initializer=_init_worker,
                                   initargs=(slots, threads))
        try:
            schedule(planned, pool, jobs, executor, finish)
        finally:  # after Ctrl-C too: the workers stop their runs (see run_one) and exit
            pool.shutdown(wait=True, cancel_futures=True)
            slots.close()
            slots.join_thread()
    bar.close()
    report.seconds = time.perf_counter() - t0
    return report
