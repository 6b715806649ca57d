"""The Study A grid: hosts x splits x seeds, without and with the IM plug-in.

An IM cell of seed s needs its teachers (the host runs of seeds s*n .. s*n + n - 1, variants G and M): the
grid adds them, and :func:`plan` starts an IM run once its teachers' runs have finished, so that it reuses
them instead of training them again. :func:`imlib.batch.run_batch` executes the grid (skip what is done, record
failures and go on), through ``notebooks/train_study_a.py`` with papermill or in-process.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from imlib.study_a.config import StudyAConfig, make_config

# The smoke batch of `make reproduce`: every host without IM and with IM (variant G), and UniMatch with the
# other two variants
SMOKE_VARIANTS = {"unimatch": ("G", "M", "O"), "segkc": ("G", "O")}


def default_hosts() -> list[str]:
    from imlib.methods.registry import method_keys

    return method_keys(study="a", kind="study-a-host")


def expand_grid(preset: str, hosts: Sequence[str] | None = None, splits: Sequence[str] = ("1/8",),
                seeds: Sequence[int] = (0,), variants: dict[str, Sequence[str]] | None = None,
                dataset: str | None = None, overrides: dict[str, Any] | None = None) -> list[StudyAConfig]:
    """Each (host, split, seed) without IM and with each IM variant (default: G for every host, plus
    ``SMOKE_VARIANTS``), and the teacher runs the IM cells need, without duplicates."""
    hosts = default_hosts() if hosts is None else list(hosts)
    variants = variants if variants is not None else {h: SMOKE_VARIANTS.get(h, ("G",)) for h in hosts}
    base = dict(overrides or {})
    if dataset is not None:
        base["dataset"] = dataset
    out: dict[str, StudyAConfig] = {}
    for host in hosts:
        for split in splits:
            for seed in seeds:
                cfg = make_config(preset, host=host, split=split, seed=seed, **base)
                out.setdefault(cfg.run_id, cfg)
                for variant in variants.get(host, ()):
                    im = make_config(preset, host=host, split=split, seed=seed, plugin="im",
                                     plugin_options={"variant": variant}, **base)
                    if variant in "GM":
                        for t in im.teacher_configs():
                            out.setdefault(t.run_id, t)
                    out.setdefault(im.run_id, im)
    return list(out.values())


def plan(todo: list[StudyAConfig]) -> list[tuple[StudyAConfig, set[str]]]:
    """Host runs first (the IM teachers among them), then the IM runs; an IM run of variant G or M waits
    only for its own teachers' runs (those of this batch)."""
    ids = {c.run_id for c in todo}
    needs = {c.run_id: ({t.run_id for t in c.teacher_configs()} & ids
                        if c.plugin == "im" and c.variant in "GM" else set()) for c in todo}
    return [(c, needs[c.run_id]) for c in sorted(todo, key=lambda c: c.plugin != "none")]


def why_run(cfg: StudyAConfig, rerun_older: bool, commit: str) -> str | None:
    """Why a run must (re)run, or None when its record exists, loads, and has these settings."""
    from imlib.records import RecordError, record_path
    from imlib.study_a.records import load

    path = record_path(cfg.results_dir, cfg.run_id)
    if not path.exists():
        return "no record yet"
    try:
        record = load(path)
    except RecordError as e:
        return f"its record is unreadable, run again ({e})"
    if record.config.semantic() != cfg.semantic():
        return "its record was made with other settings"
    if rerun_older and commit != "unknown" and record.environment.git_commit != commit:
        return f"its record was written by commit {record.environment.git_commit[:12]}, this is {commit[:12]}"
    return None


def notebook_parameters(cfg: StudyAConfig) -> dict[str, Any]:
    """``notebooks/train_study_a.py``'s parameters for a run (paths absolute: the kernel runs in notebooks/)."""
    from pathlib import Path

    d = cfg.to_dict()
    named = ("host", "dataset", "split", "seed", "preset", "plugin", "plugin_options", "options", "device",
             "allow_stand_in")
    params = {k: d[k] for k in named}
    params["results_dir"] = str(Path(cfg.results_dir).resolve())
    params["work_dir"] = str(Path(cfg.work_dir).resolve())
    base = make_config(cfg.preset, host=cfg.host).to_dict()
    params["overrides"] = {k: v for k, v in d.items()
                           if k not in named + ("results_dir", "work_dir") and v != base[k]}
    return params


def summary(cfg: StudyAConfig) -> str:
    from imlib.records import record_path
    from imlib.study_a.records import load

    rec = load(record_path(cfg.results_dir, cfg.run_id))
    return f"val mIoU {rec.result.best_miou:.2f} (best), {rec.result.last_miou:.2f} (last)"
