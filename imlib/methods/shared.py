"""What every method shares: a run's loaded dataset and device, training (or reusing) a set of models,
ranking them on validation, and the generation entries of its record."""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from imlib.config import RunConfig, resolve_packing
from imlib.data import Dataset, SegData
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


class Run:
    """One run of a method: its configuration, dataset, device, training settings and model cache."""

    def __init__(self, cfg: RunConfig, progress: bool = True, dataset: Dataset | None = None):
        from imlib.methods.registry import get_method

        self.method = get_method(cfg.method)
        self.options = self.method.resolve_options(cfg.options)
        self.device = pick_device(cfg.device)
        if self.device.type == "cpu":
            torch.set_num_threads(cfg.cpu_threads)  # results depend on it (see RunConfig.cpu_threads)
        self.dataset = dataset if dataset is not None else load_dataset(cfg, self.device)
        self.task = self.dataset.task
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
        the same settings. Models of the paper's supervised step train ``cfg.pack_models`` at a time in one
        packed network (:mod:`imlib.packed`). ``scope``: "reference" for models that depend only on data
        and training settings (reused by every method of the seed), "method" for a method's own models."""
        first = make_objective()  # made when needed: an objective may hold a teacher or a bank
        together = self.set_size(first)
        paths = [self.cache.path(role, i, self.model_key(scope, role, i, together)) for i in range(count)]
        done = {i: c for i, p in enumerate(paths) if (c := self.cache.load(p, self.device)) is not None}
        todo = [i for i in range(count) if i not in done]
        fresh: dict[int, CachedModel] = {}
        while todo:
            group, todo = todo[:together], todo[together:]
            objectives = [first] + [make_objective() for _ in group[1:]]
            first = make_objective() if todo else None
            fresh.update(self._train(role, group, objectives, [paths[i] for i in group]))
        models = []
        for i, path in enumerate(paths):
            cached = done.get(i) or fresh[i]
            network = self.build().to(self.device)
            network.load_state_dict(cached.state)
            models.append(TrainedModel(f"{role}-{i}", network, cached.val, cached.test, cached.best_epoch,
                                       cached.seconds, cached.history, reused=i in done, checkpoint=str(path),
                                       evaluated=cached.evaluated))
        return models

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

    def _train(self, role: str, indices: list[int], objectives: list[Objective], paths: list) -> dict[int, CachedModel]:
        """Train the models ``indices`` of ``role`` (together when there are several; each resuming its
        partial checkpoint), score each on validation and test, and save it to the cache."""
        seeds = [member_seed(self.cfg.seed, role, i) for i in indices]
        desc = f"{self.cfg.dataset} {role}-{','.join(map(str, indices))}"
        if len(indices) == 1:
            results = [train_model(self.build, objectives[0], self.dataset.val, self.task, self.settings, seeds[0],
                                   self.device, checkpoint=self.cache.partial(paths[0]), desc=desc)]
        else:
            results = train_packed(self.build, objectives, self.dataset.val, self.task, self.settings, seeds,
                                   self.device, checkpoint=self.cache.partial_set(paths), desc=desc)
        trained = {}
        network = self.build().to(self.device)
        for i, path, res in zip(indices, paths, results):
            network.load_state_dict(res.state)
            val = evaluate(network, self.dataset.val, self.task, amp=self.cfg.amp)
            test = evaluate(network, self.dataset.test, self.task, amp=self.cfg.amp)
            trained[i] = CachedModel(res.state, val, test, res.best_epoch, res.seconds, res.history, res.evaluated)
            self.cache.save(path, trained[i])
        if len(indices) > 1:
            self.cache.partial_set(paths).unlink(missing_ok=True)
        return trained

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
