"""Methods: one module each, registered once in :mod:`imlib.methods.registry`; one interface:
``run(cfg) -> RunRecord``.

Study B: the supervised references LDT, ALDT, FDT, AFDT (``reference``), Model Ensemble
(``model_ensemble``) and IM (``im_generations``); both of the latter run the generational loop of
``generational``. The semi-supervised baselines (FixMatch, FPL, CrossMatch, iMAS, U2PL, UniMatch)
are training objectives (one module each) run by ``semi_supervised``.
"""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from imlib import provenance
from imlib.config import RunConfig, check_stand_in
from imlib.data import Dataset
from imlib.methods.shared import Run, SeedGroup, SeedGroupBroken
from imlib.records import DatasetInfo, Environment, Headline, RunRecord, TaskInfo, TeacherScores, Timing
from imlib.selection import choose_headline


def run(cfg: RunConfig, progress: bool = True, dataset: Dataset | None = None, group: SeedGroup | None = None,
        slot: int = 0) -> RunRecord:
    """Train a method as configured and return its run record (not yet written). ``group``/``slot``: this run
    is seed ``slot`` of a :class:`SeedGroup` (see :func:`run_seeds`)."""
    from imlib.methods.registry import get_method  # here, not above: the registry imports every method module

    check_stand_in(cfg.preset, cfg.dataset, cfg.allow_stand_in)
    spec = get_method(cfg.method)
    t0 = time.perf_counter()
    run_ = Run(cfg, progress=progress, dataset=dataset, group=group, slot=slot)
    loaded = time.perf_counter()
    generations = spec.run(run_)
    task, ds = run_.task, run_.dataset
    # the headline: the generation whose top-1 model is best on validation, among the candidates of the
    # run's selection rule (the paper's: generation 0 of a generational method, its LDT teachers, is not one);
    # the teachers' scores are kept beside it either way
    choice = choose_headline(generations, lambda g: g.generation, lambda g: g.val[task.metric],
                             task.higher_is_better, cfg.selection)
    best, teachers = choice.best, choice.teachers
    pool = [m.test[task.metric] for g in choice.candidates for m in g.models]
    return RunRecord(
        run_id=cfg.run_id, created=provenance.now(),
        config=run_.cfg,
        dataset=DatasetInfo(name=ds.name, synthetic=ds.synthetic, stands_in_for=ds.stands_in_for, sizes=ds.sizes(),
                            provenance=ds.provenance, alpha=run_.alpha),
        task=TaskInfo(kind=task.kind, metric=task.metric, higher_is_better=task.higher_is_better,
                      classes=list(task.class_names)),
        result=Headline(generation=best.generation, model=best.selected, val=best.val, test=best.test,
                        final_generation_test=generations[-1].test, candidates=len(pool),
                        candidates_test_mean=sum(pool) / len(pool), selection=cfg.selection,
                        teachers=None if teachers is None else TeacherScores(teachers.selected, teachers.val,
                                                                             teachers.test),
                        below_teachers=choice.below_teachers),
        generations=generations,
        timing=Timing(total_s=round(time.perf_counter() - t0, 2), data_s=round(loaded - t0, 2),
                      train_s=round(sum(m.seconds for g in generations for m in g.models if not m.reused), 2),
                      packed_models=run_.pack),
        environment=Environment.current(run_.device, run_.cfg.amp),
    )


def run_seeds(cfgs: list[RunConfig], progress: bool = False) -> list[RunRecord]:
    """Runs of one method on several seeds, trained together: each run in its own thread, every set of models
    trained in one packed network with the same set of the other seeds (:class:`SeedGroup`), the dataset
    loaded once. Returns the records in ``cfgs``' order (not yet written); a failure of any run fails all."""
    from imlib.config import semantic_differences
    from imlib.data.registry import load_dataset
    from imlib.engine import pick_device

    if not cfgs:
        return []
    for other in cfgs[1:]:
        differ = set(semantic_differences(cfgs[0], other)) - {"seed"}
        if differ or other.dataset != cfgs[0].dataset or other.method != cfgs[0].method:
            raise ValueError(f"a seed group's runs may differ in their seed only; {other.run_id} differs from "
                             f"{cfgs[0].run_id} in {sorted(differ) or ['dataset/method']}")
    if len({c.seed for c in cfgs}) != len(cfgs):
        raise ValueError("a seed group needs distinct seeds")
    dataset = load_dataset(cfgs[0], pick_device(cfgs[0].device))  # the split is data_seed's: one for all seeds
    group = SeedGroup(len(cfgs))

    def one(slot: int) -> RunRecord:
        try:
            return run(cfgs[slot], progress, dataset=dataset, group=group, slot=slot)
        except BaseException:
            group.abort()
            raise

    with ThreadPoolExecutor(max_workers=len(cfgs), thread_name_prefix="seed") as pool:
        futures = [pool.submit(one, k) for k in range(len(cfgs))]
        errors = [f.exception() for f in futures]
    first = next((e for e in errors if e is not None and not isinstance(e, SeedGroupBroken)),
                 next((e for e in errors if e is not None), None))
    if first is not None:
        raise first
    return [f.result() for f in futures]


__all__ = ["Run", "run", "run_seeds", "SeedGroup"]
