"""Methods: one module each, one interface: ``run(cfg) -> run record`` (a JSON-ready dict).

Study B: the supervised references LDT, ALDT, FDT, AFDT (``reference``), Model Ensemble
(``model_ensemble``) and IM (``im``); both of the latter run the generational loop of
``generational``. The semi-supervised baselines (FixMatch, FPL, CrossMatch, iMAS, U2PL, UniMatch)
are training objectives run by ``ssl``.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from imlib import results
from imlib.config import RunConfig
from imlib.methods import im, model_ensemble, reference, ssl
from imlib.methods.common import Context

METHODS: dict[str, Callable[[Context], list[dict]]] = {
    **{name: reference.run for name in reference.REFERENCES},
    **{name: ssl.run for name in ssl.OBJECTIVES},
    "me": model_ensemble.run,
    "im": im.run,
}


def run(cfg: RunConfig, progress: bool = True) -> dict[str, Any]:
    """Train a method as configured and return its run record (not yet written)."""
    if cfg.method not in METHODS:
        raise ValueError(f"unknown method {cfg.method!r}; available: {', '.join(METHODS)}")
    t0 = time.perf_counter()
    ctx = Context(cfg, progress=progress)
    loaded = time.perf_counter()
    generations = METHODS[cfg.method](ctx)
    task = ctx.task
    # the headline: the generation whose top-1 model is best on validation (generation 0 of a
    # generational method is its LDT teachers and is not a candidate)
    candidates = [g for g in generations if g["generation"] > 0] or generations
    sign = 1 if task.higher_is_better else -1
    best = max(candidates, key=lambda g: (sign * g["val"][task.metric], -g["generation"]))
    ds = ctx.ds
    return {
        "schema": results.SCHEMA,
        "run_id": cfg.run_id,
        "created": results.now(),
        "config": cfg.to_dict(),
        "dataset": {"name": ds.name, "synthetic": ds.synthetic, "stands_in_for": ds.stands_in_for,
                    "sizes": ds.sizes(), "provenance": ds.provenance, "alpha": ctx.alpha},
        "task": {"kind": task.kind, "metric": task.metric, "higher_is_better": task.higher_is_better,
                 "classes": list(task.class_names)},
        "result": {"generation": best["generation"], "model": best["selected"], "val": best["val"],
                   "test": best["test"], "final_generation_test": generations[-1]["test"]},
        "generations": generations,
        "timing": {"total_s": round(time.perf_counter() - t0, 2), "data_s": round(loaded - t0, 2),
                   "train_s": round(sum(m["seconds"] for g in generations for m in g["members"]
                                        if not m["reused"]), 2)},
        "environment": results.environment(ctx.device),
    }


__all__ = ["METHODS", "run"]
