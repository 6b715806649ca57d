"""The batch on a Slurm cluster (``imlib batch --executor slurm``), through submitit.

One Slurm job per cell of the grid. A job runs its cell exactly as the local executor does
(``imlib.batch.run_one``: papermill executes the train notebook and writes the run record atomically), so
records, resume and failure notes are the same. The rules:

- **Resume**: cells whose record exists (and was made with these settings) are skipped, as locally; a cell whose
  job is still queued or running is not submitted twice. A cell whose job died (``scancel``, a node failure, a
  time limit hit) has no record, so the next ``imlib batch`` submits it again, and its models resume from their
  last checkpoint in ``work_dir``.
- **Pre-emption and time limits**: the job is ``submitit.helpers.Checkpointable``; Slurm's signal makes
  submitit requeue it (the models resume from their checkpoints).
- **Order**: Model Ensemble and IM wait for their seed's LDT job (Slurm ``afterok`` dependencies from
  ``imlib.batch.plan``; ``kill_on_invalid_dep`` ends them when that job failed, and they are reported).
- **Logs**: per cell under ``<results_dir>/_slurm/<run id>/`` (submitit's ``<job>_0_log.out/err``); the job
  ids in ``<results_dir>/_slurm/jobs.json``, which ``imlib batch --status`` reads beside the records and
  ``squeue``.
- **Resources** per study and preset (``DEFAULTS``), changed by a TOML profile (``--slurm-profile``: top-level
  keys for every cell, tables ``[b.paper]``, ``[a.paper]``, ... per study and preset) and by ``--slurm KEY=VALUE``.
- **Several GPUs or nodes** (Study A, ``tasks_per_node`` or ``nodes`` > 1): every task runs
  ``imlib.study_a.run.run`` with torchrun's environment (``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``, ...) taken
  from Slurm by ``submitit.helpers.TorchDistributedEnvironment``; the record is written by rank 0.
"""
from __future__ import annotations

import dataclasses
import datetime
import json
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imlib import batch, provenance
from imlib.records import write_json_atomic

ACTIVE = {"PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "REQUEUED", "RESIZING", "SUSPENDED"}


@dataclass(frozen=True)
class SlurmResources:
    """What one cell's job asks Slurm for (submitit's parameter names)."""
    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    constraint: str | None = None
    nodes: int = 1
    tasks_per_node: int = 1  # Study A on several GPUs: one task per GPU
    gpus_per_node: int = 0
    cpus_per_task: int = 1
    mem_gb: float = 4.0
    timeout_min: int = 60

    def submitit_parameters(self, name: str) -> dict[str, Any]:
        params: dict[str, Any] = {"name": name, "nodes": self.nodes, "tasks_per_node": self.tasks_per_node,
                                  "cpus_per_task": self.cpus_per_task, "mem_gb": self.mem_gb,
                                  "timeout_min": self.timeout_min}
        if self.gpus_per_node:
            params["gpus_per_node"] = self.gpus_per_node
        for key in ("partition", "account", "qos", "constraint"):
            if getattr(self, key) is not None:
                params[f"slurm_{key}"] = getattr(self, key)
        return params


#: Resources per (study, preset): the paper presets one GPU per Study B cell and four GPUs of one node per
#: Study A run (the hosts' recipes), the CPU presets from the measured smoke/mini times with a margin.
DEFAULTS: dict[tuple[str, str], SlurmResources] = {
    ("b", "smoke"): SlurmResources(cpus_per_task=1, mem_gb=4, timeout_min=30),
    ("b", "mini"): SlurmResources(cpus_per_task=1, mem_gb=4, timeout_min=240),
    ("b", "paper"): SlurmResources(gpus_per_node=1, cpus_per_task=8, mem_gb=32, timeout_min=24 * 60),
    ("a", "smoke"): SlurmResources(cpus_per_task=2, mem_gb=8, timeout_min=60),
    ("a", "paper"): SlurmResources(gpus_per_node=4, tasks_per_node=4, cpus_per_task=8, mem_gb=128,
                                   timeout_min=48 * 60),
}
FIELDS = {f.name: f.type for f in dataclasses.fields(SlurmResources)}


def _checked(values: dict[str, Any], where: str) -> dict[str, Any]:
    out = {}
    for key, value in values.items():
        if key not in FIELDS:
            raise ValueError(f"{where}: unknown key {key!r}; expected one of {', '.join(FIELDS)}")
        kind = {"int": int, "float": (int, float)}.get(FIELDS[key], (str, type(None)))
        if not isinstance(value, kind) or isinstance(value, bool):
            raise ValueError(f"{where}: {key} must be {FIELDS[key]}, got {value!r}")
        out[key] = value
    return out


def resources(study: str, preset: str, profile: str | Path | None = None,
              overrides: dict[str, Any] | None = None) -> SlurmResources:
    """The resources of a cell of ``study`` at ``preset``: ``DEFAULTS``, then the profile's top-level keys,
    then its ``[study.preset]`` table, then ``overrides``. Unknown keys and wrong types name file and key."""
    res = DEFAULTS.get((study, preset), SlurmResources())
    if profile is not None:
        try:
            import tomllib  # Python >= 3.11
        except ModuleNotFoundError:
            raise ValueError("--slurm-profile needs Python >= 3.11 (tomllib); use --slurm KEY=VALUE") from None
        path = Path(profile)
        try:
            data = tomllib.loads(path.read_text())
        except (OSError, tomllib.TOMLDecodeError) as e:
            raise ValueError(f"{path}: not a readable TOML profile ({e})") from None
        top = {k: v for k, v in data.items() if not isinstance(v, dict)}
        res = dataclasses.replace(res, **_checked(top, str(path)))
        table = data.get(study, {}).get(preset, {}) if isinstance(data.get(study), dict) else {}
        res = dataclasses.replace(res, **_checked(table, f"{path} [{study}.{preset}]"))
    if overrides:
        res = dataclasses.replace(res, **_checked(overrides, "--slurm"))
    return res


def slurm_dir(results_dir: str | Path) -> Path:
    return Path(results_dir) / "_slurm"


def _load_jobs(results_dir: str | Path) -> dict[str, dict]:
    path = slurm_dir(results_dir) / "jobs.json"
    return json.loads(path.read_text()) if path.exists() else {}


def scheduler_states(job_ids: list[str]) -> dict[str, str]:
    """The state Slurm's queue gives each job (jobs no longer in the queue are absent)."""
    if not job_ids:
        return {}
    out = subprocess.run(["squeue", "-h", "-o", "%i %T", "--states=all"], capture_output=True, text=True,
                         timeout=60)
    if out.returncode != 0:
        raise RuntimeError(f"squeue failed: {out.stderr.strip()}")
    wanted, states = set(job_ids), {}
    for line in out.stdout.splitlines():
        job, _, state = line.strip().partition(" ")
        base = job.split("_")[0]
        if base in wanted:
            states[base] = state
    return states


class CellJob:
    """What a Slurm job runs: one cell, as the local executor runs it. Requeued on pre-emption/time limit."""

    def __call__(self, cfg, executor: str = "notebook") -> str:
        ntasks = int(os.environ.get("SLURM_NTASKS", "1"))
        if ntasks > 1:  # Study A over several GPUs or nodes: torchrun's environment from Slurm's
            import submitit

            submitit.helpers.TorchDistributedEnvironment().export(set_cuda_visible_devices=False)
            from imlib.study_a.run import run

            run(cfg, progress=False)
            return f"{cfg.run_id}: done on {ntasks} tasks"
        run_id, tail, summary = batch.run_one(cfg, executor)
        if tail is not None:
            raise RuntimeError(f"{run_id} failed:\n{tail}")
        return summary

    def checkpoint(self, *args, **kwargs):
        import submitit

        return submitit.helpers.DelayedSubmission(CellJob(), *args, **kwargs)


def _absolute(cfg):
    """The same run with absolute folders (a job may start elsewhere than the submitting shell)."""
    paths = {k: str(Path(getattr(cfg, k)).resolve()) for k in ("results_dir", "work_dir", "prepared_dir")
             if hasattr(cfg, k)}
    return dataclasses.replace(cfg, **paths)


def submit(configs: list, profile: str | Path | None = None, overrides: dict[str, Any] | None = None,
           executor: str = "notebook", rerun_older: bool = False, wait: bool = True, poll_s: float = 5.0,
           say=print) -> batch.BatchReport:
    """Submit the cells not done yet (one job each, dependencies as ``imlib.batch.plan``), and with ``wait``
    follow them until they leave the queue; returns the report (done, skipped, failed with the log to read)."""
    import submitit

    report, t0 = batch.BatchReport(), time.perf_counter()
    commit = provenance.git_commit()
    configs = [_absolute(c) for c in configs]
    jobs_by_dir = {d: _load_jobs(d) for d in dict.fromkeys(c.results_dir for c in configs)}
    todo = batch.still_to_run(configs, rerun_older, commit, report)
    live = scheduler_states([j["job_id"] for d in jobs_by_dir.values() for j in d.values()])
    submitted: dict[str, str] = {}
    planned = batch.plan(todo)  # the runs that others wait for are submitted first, so their ids are known
    for cfg, needs in sorted(planned, key=lambda p: bool(p[1])):
        known = jobs_by_dir[cfg.results_dir]
        old = known.get(cfg.run_id)
        if old and live.get(old["job_id"]) in ACTIVE:  # queued or running already: not twice
            submitted[cfg.run_id] = old["job_id"]
            say(f"queued {cfg.run_id}: job {old['job_id']} ({live[old['job_id']].lower()}) already")
            continue
        res = resources(cfg.study, cfg.preset, profile, overrides)
        logs = slurm_dir(cfg.results_dir) / cfg.run_id.replace("/", "__")
        ex = submitit.AutoExecutor(folder=logs, cluster="slurm")
        extra = {}
        deps = [submitted[r] for r in needs if r in submitted]
        if deps:
            extra = {"dependency": "afterok:" + ":".join(deps), "kill_on_invalid_dep": "yes"}
        ex.update_parameters(**res.submitit_parameters(cfg.run_id), slurm_additional_parameters=extra)
        job = ex.submit(CellJob(), cfg, executor)
        submitted[cfg.run_id] = job.job_id
        known[cfg.run_id] = {"job_id": job.job_id, "submitted": datetime.datetime.now().isoformat(timespec="seconds"),
                             "logs": str(logs)}
        write_json_atomic(known, slurm_dir(cfg.results_dir) / "jobs.json")
        say(f"submitted {cfg.run_id}: job {job.job_id}" + (f" (after {', '.join(deps)})" if deps else ""))
    if wait:
        by_id = {job_id: run_id for run_id, job_id in submitted.items()}
        pending = set(by_id)
        while pending:
            time.sleep(poll_s)
            states = scheduler_states(sorted(pending))
            for job_id in sorted(pending - {j for j, s in states.items() if s in ACTIVE}):
                pending.discard(job_id)
                cfg = next(c for c in todo if c.run_id == by_id[job_id])
                if batch.why_run(cfg, False, commit) is None:
                    report.done.append(cfg.run_id)
                    say(f"ok     {cfg.run_id}: job {job_id}")
                else:
                    logs = jobs_by_dir[cfg.results_dir][cfg.run_id]["logs"]
                    report.failed[cfg.run_id] = f"job {job_id} ended without a record; logs in {logs}"
                    say(f"FAILED {cfg.run_id}: job {job_id} ended without a record; logs in {logs}")
    report.seconds = time.perf_counter() - t0
    return report


def status(configs: list) -> list[tuple[str, str, str]]:
    """(run id, state, detail) per cell: ``done`` (its record is there), ``queued`` / ``running`` (its job in
    Slurm's queue), ``failed`` (its job left the queue without a record: the logs to read), or ``not run``."""
    commit = provenance.git_commit()
    configs = [_absolute(c) for c in configs]
    jobs = {c.run_id: _load_jobs(c.results_dir).get(c.run_id) for c in configs}
    try:
        live = scheduler_states([j["job_id"] for j in jobs.values() if j])
    except (OSError, RuntimeError):
        live = None  # no scheduler reachable: records only
    rows = []
    for cfg in configs:
        job = jobs[cfg.run_id]
        if batch.why_run(cfg, False, commit) is None:
            rows.append((cfg.run_id, "done", f"job {job['job_id']}" if job else ""))
        elif job and live is not None and live.get(job["job_id"]) in ACTIVE:
            state = live[job["job_id"]]
            rows.append((cfg.run_id, "queued" if state == "PENDING" else "running", f"job {job['job_id']} {state}"))
        elif job:
            rows.append((cfg.run_id, "failed" if live is not None else "unknown",
                         f"job {job['job_id']}, logs in {job['logs']}"))
        else:
            rows.append((cfg.run_id, "not run", ""))
    return rows
