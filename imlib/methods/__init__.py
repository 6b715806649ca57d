"""Methods: one module each, registered once in :mod:`imlib.methods.registry`; one interface:
``run(cfg) -> RunRecord``.

Study B: the supervised references LDT, ALDT, FDT, AFDT (``reference``), Model Ensemble
(``model_ensemble``) and IM (``im_generations``); both of the latter run the generational loop of
``generational``. The semi-supervised baselines (FixMatch, FPL, CrossMatch, iMAS, U2PL, UniMatch)
are training objectives (one module each) run by ``semi_supervised``.
"""
from __future__ import annotations

import time

from imlib import provenance
from imlib.config import RunConfig
from imlib.methods.shared import Run
from imlib.records import DatasetInfo, Environment, Headline, RunRecord, TaskInfo, Timing
from imlib.selection import candidate_generations, pick_best


def run(cfg: RunConfig, progress: bool = True) -> RunRecord:
    """Train a method as configured and return its run record (not yet written)."""
    from imlib.methods.registry import get_method  # here, not above: the registry imports every method module

    spec = get_method(cfg.method)
    t0 = time.perf_counter()
    run_ = Run(cfg, progress=progress)
    loaded = time.perf_counter()
    generations = spec.run(run_)
    task, ds = run_.task, run_.dataset
    # the headline: the generation whose top-1 model is best on validation (generation 0 of a
    # generational method is its LDT teachers and is not a candidate)
    candidates = candidate_generations(generations, lambda g: g.generation)
    best = pick_best(candidates, lambda g: g.val[task.metric], task.higher_is_better)
    pool = [m.test[task.metric] for g in candidates for m in g.models]
    return RunRecord(
        run_id=cfg.run_id, created=provenance.now(),
        config=run_.cfg,
        dataset=DatasetInfo(name=ds.name, synthetic=ds.synthetic, stands_in_for=ds.stands_in_for, sizes=ds.sizes(),
                            provenance=ds.provenance, alpha=run_.alpha),
        task=TaskInfo(kind=task.kind, metric=task.metric, higher_is_better=task.higher_is_better,
                      classes=list(task.class_names)),
        result=Headline(generation=best.generation, model=best.selected, val=best.val, test=best.test,
                        final_generation_test=generations[-1].test, candidates=len(pool),
                        candidates_test_mean=sum(pool) / len(pool)),
        generations=generations,
        timing=Timing(total_s=round(time.perf_counter() - t0, 2), data_s=round(loaded - t0, 2),
                      train_s=round(sum(m.seconds for g in generations for m in g.models if not m.reused), 2),
                      packed_models=run_.pack),
        environment=Environment.current(run_.device),
    )


__all__ = ["Run", "run"]
