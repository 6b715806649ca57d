"""What every method shares: a run's loaded dataset and device, training (or reusing) a set of models,
ranking them on validation, and the generation entries of its record."""
from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from imlib.config import RunConfig, resolve_packing
from imlib.data import Dataset, SegData
from imlib.data.task import Task
from imlib.data.registry import load_dataset
from imlib.engine import Objective, Supervised, TrainSettings, evaluate, pick_device, train_model
from imlib.model_cache import CachedModel, ModelCache, Scope, member_seed, model_key
from imlib.models import build_model
from imlib.packed import packable, train_packed
from imlib.records import GenerationRecord, ModelRecord
from imlib.selection import rank


@dataclass
class TrainedModel:
    """One trained model of a run, with its validation and test scores."""

    name: str
    network: nn.Module
    val: dict[str, float]
    test: dict[str, float]
    best_epoch: int
    seconds: float
    history: list[dict] = field(default_factory=list)
    reused: bool = False
    checkpoint: str = ""
    evaluated: str = "student"

    def record(self) -> ModelRecord:
        return ModelRecord(name=self.name, val=self.val, test=self.test, best_epoch=self.best_epoch,
                           seconds=round(self.seconds, 3), reused=self.reused, checkpoint=self.checkpoint,
                           evaluated=self.evaluated,
                           history=[{k: (round(v, 6) if isinstance(v, float) else v) for k, v in h.items()}
                                    for h in self.history])


@dataclass
class SetPlan:
    """A set of models one run needs: the cached ones, the ones to train, and how many train together."""

    run: Run
    role: str
    make_objective: Callable[[], Objective]
    made: list[Objective]  # objectives made already (the first, to learn the set's kind), used first
    paths: list
    done: dict[int, CachedModel]
    todo: list[int]
    together: int

    def objective(self) -> Objective:
        return self.made.pop(0) if self.made else self.make_objective()


def train_sets(plans: list[SetPlan]) -> list[dict[int, CachedModel]]:
    """Train the models still missing from ``plans`` (one set of one run, or the same set of a seed group's
    runs), ``together`` at a time in one packed network; score each on its run's validation and test sets and
    save it to its run's cache."""
    queue = [(plan, i) for plan in plans for i in plan.todo]
    results: list[dict[int, CachedModel]] = [{} for _ in plans]
    together = plans[0].together if plans else 1
    while queue:
        chunk, queue = queue[:together], queue[together:]
        objectives = [plan.objective() for plan, _ in chunk]
        run = chunk[0][0].run
        seeds = [member_seed(plan.run.cfg.seed, plan.role, i) for plan, i in chunk]
        paths = [plan.paths[i] for plan, i in chunk]
        desc = f"{run.cfg.dataset} " + ",".join(f"{plan.role}-{i}" + (f"/s{plan.run.cfg.seed}" if len(plans) > 1 else "")
                                                for plan, i in chunk)
        if len(chunk) == 1:
            trained = [train_model(run.build, objectives[0], run.dataset.val, run.task, run.settings, seeds[0],
                                   run.device, checkpoint=run.cache.partial(paths[0]), desc=desc)]
        else:
            trained = train_packed(run.build, objectives, run.dataset.val, run.task, run.settings, seeds, run.device,
                                   checkpoint=run.cache.partial_set(paths), desc=desc)
        for (plan, i), path, res in zip(chunk, paths, trained):
            r = plan.run
            network = r.build().to(r.device)
            network.load_state_dict(res.state)
            val = evaluate(network, r.dataset.val, r.task, amp=r.cfg.amp)
            test = evaluate(network, r.dataset.test, r.task, amp=r.cfg.amp)
            cached = CachedModel(res.state, val, test, res.best_epoch, res.seconds, res.history, res.evaluated)
            r.cache.save(path, cached)
            results[plans.index(plan)][i] = cached
        if len(chunk) > 1:
            run.cache.partial_set(paths).unlink(missing_ok=True)
    return results


class SeedGroupBroken(RuntimeError):
    """Another run of the seed group failed (its own error is the one to report)."""


class SeedGroup:
    """Runs of one method on several seeds, each in its own thread, trained in lockstep: every
    ``train_models`` call waits for the same call of the other runs, and their sets train as one packed set
    (the seeds' models are independent, so this is the separate trainings, as the packed-set tests show;
    the data, settings and method must be the same, only the seed differs)."""

    TIMEOUT_S = 24 * 3600.0  # a run that never arrives (a bug) fails the group instead of hanging it

    def __init__(self, size: int):
        self.size = size
        self.plans: list[SetPlan | None] = [None] * size
        self.results: list[dict[int, CachedModel] | None] = [None] * size
        self.error: BaseException | None = None
        self.barrier = threading.Barrier(size, action=self._train_all, timeout=self.TIMEOUT_S)

    def train(self, slot: int, plan: SetPlan) -> dict[int, CachedModel]:
        self.plans[slot] = plan
        try:
            self.barrier.wait()
        except threading.BrokenBarrierError:
            raise (self.error or SeedGroupBroken("another run of the seed group failed")) from None
        return self.results[slot]

    def abort(self) -> None:
        self.barrier.abort()

    def _train_all(self) -> None:
        try:
            roles = {plan.role for plan in self.plans}
            if len(roles) != 1 or len({plan.together for plan in self.plans}) != 1:
                raise RuntimeError(f"the runs of a seed group asked for different model sets: {sorted(roles)}")
            self.results = train_sets(self.plans)
        except BaseException as e:
            self.error = e
            raise


def inference_task(task: Task, inference: str, dataset: str) -> Task:
    """The dataset's task with the run's ``inference``: "real-classes" keeps the IM class out of every
    prediction, and applies to multi-class tasks only (binary and multi-label tasks reserve no class)."""
    if inference == "paper":
        return task
    if task.kind != "multiclass":
        raise ValueError(f"inference={inference!r} leaves the IM class out of multi-class predictions; {dataset} is "
                         f"a {task.kind} task, which has no IM class (use inference='paper')")
    return dataclasses.replace(task, predict_im_class=False)


class Run:
    """One run of a method: its configuration, dataset, device, training settings and model cache."""

    def __init__(self, cfg: RunConfig, progress: bool = True, dataset: Dataset | None = None,
                 group: SeedGroup | None = None, slot: int = 0):
        from imlib.methods.registry import get_method

        self.group, self.slot, self.seeds = group, slot, (group.size if group is not None else 1)
        self.method = get_method(cfg.method)
        self.options = self.method.resolve_options(cfg.options)
        self.device = pick_device(cfg.device)
        if self.device.type == "cpu":
            torch.set_num_threads(cfg.cpu_threads)  # results depend on it (see RunConfig.cpu_threads)
        self.dataset = dataset if dataset is not None else load_dataset(cfg, self.device)
        self.task = inference_task(self.dataset.task, cfg.inference, cfg.dataset)
        self.alpha = cfg.alpha if cfg.alpha is not None else self.dataset.default_alpha
        self.cfg = cfg = dataclasses.replace(cfg, options=self.options)  # complete, whoever made the config
        # models trained together; auto (None) resolves per device and width, and the resolved value, which
        # changes weights by rounding, is what identifies a trained model
        self.pack = resolve_packing(cfg.pack_models, self.device.type, self.alpha)
        self.settings = TrainSettings(epochs=cfg.epochs, batch_size=cfg.batch_size,
                                      steps_per_epoch=cfg.steps_per_epoch, lr=cfg.lr,
                                      weight_decay=cfg.weight_decay, amp=cfg.amp, progress=progress,
                                      checkpoint_seconds=cfg.checkpoint_seconds)
        self.cache = ModelCache(cfg.work_dir, cfg.dataset)

    def build(self) -> nn.Module:
        return build_model(self.task, self.alpha, self.cfg.bn_momentum)

    def supervised(self, data: SegData) -> Callable[[], Objective]:
        """The paper's supervised training on ``data`` (a factory of fresh objectives, one per model)."""
        return lambda: Supervised(data, self.task, self.cfg.batch_size)

    def train_models(self, role: str, make_objective: Callable[[], Objective], count: int,
                     scope: Scope) -> list[TrainedModel]:
        """Train ``count`` models, each on a fresh ``make_objective()``, or load those trained before with
        the same settings. Models train :meth:`set_size` at a time in one packed network (:mod:`imlib.packed`),
        and, in a :class:`SeedGroup`, together with the same set of the group's other seeds. ``scope``:
        "reference" for models that depend only on data and training settings (reused by every method of the
        seed), "method" for a method's own models."""
        plan = self.plan_set(role, make_objective, count, scope)
        fresh = self.group.train(self.slot, plan) if self.group is not None else train_sets([plan])[0]
        models = []
        for i, path in enumerate(plan.paths):
            cached = plan.done.get(i) or fresh[i]
            network = self.build().to(self.device)
            network.load_state_dict(cached.state)
            models.append(TrainedModel(f"{role}-{i}", network, cached.val, cached.test, cached.best_epoch,
                                       cached.seconds, cached.history, reused=i in plan.done, checkpoint=str(path),
                                       evaluated=cached.evaluated))
        return models

    def plan_set(self, role: str, make_objective: Callable[[], Objective], count: int, scope: Scope) -> SetPlan:
        """Which of the set's models are cached, which must train, and how many train together."""
        first = make_objective()  # objectives are made when needed: one may hold a teacher or a bank
        together = self.set_size(first)
        together *= self.seeds if together > 1 else 1  # a seed group packs its seeds' sets into one
        paths = [self.cache.path(role, i, self.model_key(scope, role, i, together)) for i in range(count)]
        done = {i: c for i, p in enumerate(paths) if (c := self.cache.load(p, self.device)) is not None}
        return SetPlan(self, role, make_objective, [first], paths, done, [i for i in range(count) if i not in done],
                       together)

    def set_size(self, objective: Objective) -> int:
        """How many models of ``objective``'s set train together: the resolved ``pack_models`` for the paper's
        supervised step; for a semi-supervised baseline in lockstep, the same on a GPU or when asked for, and
        one at a time on the CPU by default (its step is compute-bound there, and the threads cost time)."""
        if not packable(objective, self.build()):
            return 1
        if isinstance(objective, Supervised) or self.cfg.pack_models is not None or self.device.type == "cuda":
            return self.pack
        return 1

    def model_key(self, scope: Scope, role: str, index: int, together: int | None = None) -> str:
        """The cache key of a model; ``together``: the size of the set it trains in (it changes the weights by
        rounding), the run's resolved packing when not given."""
        cfg = dataclasses.replace(self.cfg, pack_models=self.pack if together is None else together)
        return model_key(cfg, scope, role, index, self.dataset.provenance.get("data_version"))

    def rank(self, models: list[TrainedModel]) -> list[TrainedModel]:
        """Best first by the task's metric on *validation* (never test), ties in training order."""
        return rank(models, lambda m: m.val[self.task.metric], self.task.higher_is_better)

    def generation_record(self, generation: int, ranked: list[TrainedModel], **extra: Any) -> GenerationRecord:
        """A generation (or the one set of reference models): all models, and the top-1 by validation."""
        top = ranked[0]
        tests = torch.tensor([m.test[self.task.metric] for m in ranked], dtype=torch.float64)
        return GenerationRecord(generation=generation, selected=top.name, val=top.val, test=top.test,
                                test_mean=float(tests.mean()), test_std=float(tests.std()) if len(tests) > 1 else 0.0,
                                models=[m.record() for m in ranked], **extra)
