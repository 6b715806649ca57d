"""Training a set of independent models together, as one packed network.

The paper trains thousands of small U-Nets, and one 1x1 U-Net at batch 32 leaves a GPU mostly idle. A
set of models that a run trains on the same kind of objective (the 10 reference models, the K students of
a generation) is therefore trained as one :class:`~imlib.models.unet.LightUNet` with ``models`` = K: every
convolution grouped, every BatchNorm K times as wide, nothing shared between the groups. Each member keeps
everything a separate training would have: its own seed (initial weights), its own shuffled batch stream,
its own loss (the packed loss is the sum of the members' losses, so each member's gradient is its own;
AdamW is element-wise), its own best validation epoch and weights. ``tests/test_packed_training.py`` shows
that K members end with the weights of K separate :func:`~imlib.engine.train_model` runs (float64: to
1e-9; float32 differs by rounding only, as grouped and plain convolution kernels sum in different orders).

The paper's supervised step (:class:`~imlib.engine.Supervised`) is packed directly (:func:`packed_step`); a
semi-supervised objective, with its views, teacher and bank, runs per member in lockstep over the packed
network (:mod:`imlib.lockstep`). ``Run.train_models`` chooses how many models train together.
"""
from __future__ import annotations

import copy
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import torch
from torch import nn
from tqdm.auto import tqdm

from imlib.data import SegData
from imlib.data.task import Task
from imlib.engine import (CheckpointClock, Objective, Supervised, TrainResult, TrainSettings, atomic_save, autocast,
                          check_finite, deterministic_kernels, make_optimizer, make_scaler, note_first_bad,
                          optimizer_step, selection_score)
from imlib.lockstep import LockstepGroup, lockstep_losses
from imlib.losses import task_loss
from imlib.models.unet import LightUNet, pack, split_outputs, stack_inputs
from imlib.selection import improves


def packable(objective: object, network: nn.Module) -> bool:
    """Whether a model can train in a packed set: the paper's supervised step, or a semi-supervised objective
    that can run in lockstep (``LOCKSTEP``), on a single LightUNet."""
    if not (isinstance(network, LightUNet) and network.models == 1):
        return False
    return type(objective) is Supervised or getattr(objective, "LOCKSTEP", False)


def _rng_state(device: torch.device) -> tuple:
    return torch.get_rng_state(), (torch.cuda.get_rng_state(device) if device.type == "cuda" else None)


def _set_rng_state(state: tuple, device: torch.device) -> None:
    torch.set_rng_state(state[0])
    if state[1] is not None:
        torch.cuda.set_rng_state(state[1], device)


class _Member:
    """One member's selection state: best validation score, epoch, network and weights, and its history."""

    def __init__(self):
        self.best_score, self.best_epoch, self.best_state, self.best_name, self.history = None, -1, None, "student", []

    def state_dict(self) -> dict:
        return {"best_score": self.best_score, "best_epoch": self.best_epoch, "best_state": self.best_state,
                "best_name": self.best_name, "history": self.history}

    def load_state_dict(self, state: dict) -> None:
        self.best_score, self.best_epoch = state["best_score"], state["best_epoch"]
        self.best_state, self.best_name, self.history = state["best_state"], state["best_name"], state["history"]


def packed_step(model: LightUNet, objectives: list[Supervised], task: Task, opt: torch.optim.Optimizer,
                device: torch.device, amp: bool, scaler: torch.amp.GradScaler | None = None) -> torch.Tensor:
    """One optimiser step of every member, each on the next batch of its own stream; returns the K losses."""
    idx = [o.stream.next(o.batch_size, o.train.images.device) for o in objectives]
    with autocast(device, amp):
        logits = split_outputs(model(stack_inputs([o.train.images[j] for o, j in zip(objectives, idx)])), model.models)
        losses = torch.stack([task_loss(logits[k], o.train.labels[j], task) for k, (o, j) in enumerate(zip(objectives, idx))])
    optimizer_step(losses.sum(), opt, scaler)
    return losses


class PackedSet:
    """K models set up to train together: the packed network (members built from their own seeds, as separate
    trainings would build them), each objective bound to its member, one optimiser; :meth:`step` is one
    optimiser step of every member (also what ``benchmarks/study_b_cost.py`` times)."""

    def __init__(self, build: Callable[[], nn.Module], objectives: list[Objective], seeds: list[int],
                 device: torch.device, settings: TrainSettings, desc: str = "train"):
        singles, states = [], []
        for objective, seed in zip(objectives, seeds):
            torch.manual_seed(seed)  # member k starts as a separate training with seed k would
            net = build().to(device)
            if not packable(objective, net):
                raise ValueError(f"{desc}: {type(objective).__name__} cannot train packed")
            singles.append(net)
            states.append(_rng_state(device))  # where a separate training's bind would continue drawing
        if len({o.batch_size for o in objectives}) != 1:
            raise ValueError(f"{desc}: packed members need one batch size")
        self.model, self.scratch = pack(singles), singles[0]  # scratch: one member's weights at a time
        del singles[1:]
        self.members = LockstepGroup(self.model, device).members()
        for objective, member, seed, state in zip(objectives, self.members, seeds, states):
            _set_rng_state(state, device)
            objective.bind(member, device, seed)
        self.objectives, self.device = objectives, device
        self.supervised = all(type(o) is Supervised for o in objectives)
        self.opt = make_optimizer(list(self.model.parameters()) + [p for o in objectives for p in o.parameters()],
                                  settings)
        self.scaler = make_scaler(device, settings.amp)

    def step(self, step: int, total: int, amp: bool, pool: ThreadPoolExecutor | None = None
             ) -> tuple[torch.Tensor, list[dict[str, torch.Tensor]]]:
        """One optimiser step of every member; returns the K losses and each member's named loss parts.
        ``pool``: K threads for a lockstep step (made here when not given)."""
        K = len(self.members)
        if self.supervised:
            return packed_step(self.model, self.objectives, self.objectives[0].task, self.opt, self.device, amp,
                               self.scaler), [{}] * K
        if pool is None:
            with ThreadPoolExecutor(max_workers=K) as own:
                return self.step(step, total, amp, own)
        outs = lockstep_losses(self.members, self.objectives, step, total, self.device, amp, pool)
        losses = torch.stack([loss for loss, _ in outs])
        optimizer_step(losses.sum(), self.opt, self.scaler)
        for objective, member in zip(self.objectives, self.members):
            objective.after_step(member, step)
        return losses, [p for _, p in outs]


def train_packed(build: Callable[[], nn.Module], objectives: list[Objective], val: SegData, task: Task,
                 settings: TrainSettings, seeds: list[int], device: torch.device, checkpoint=None,
                 desc: str = "train") -> list[TrainResult]:
    """Train ``len(objectives)`` models together (member k: ``objectives[k]``, ``seeds[k]``) and return each
    one's best validation epoch, as :func:`~imlib.engine.train_model` would for each alone: the supervised
    step packed directly, a semi-supervised objective in lockstep (:mod:`imlib.lockstep`). ``seconds`` of a
    member is the packed training's time divided equally among the members."""
    if len(val) == 0:
        raise ValueError(f"{desc}: the validation set is empty")
    if len(objectives) != len(seeds) or not objectives:
        raise ValueError(f"{desc}: one seed per objective expected, got {len(seeds)} seeds for {len(objectives)}")
    K = len(objectives)
    deterministic_kernels(device)
    packed_set = PackedSet(build, objectives, seeds, device, settings, desc)
    model, members, scratch, opt = packed_set.model, packed_set.members, packed_set.scratch, packed_set.opt
    steps = settings.steps_per_epoch or max(1, objectives[0].epoch_size() // settings.batch_size)
    total = steps * settings.epochs
    selections = [_Member() for _ in range(K)]
    start, spent = 0, 0.0
    if checkpoint is not None and checkpoint.exists():
        ck = torch.load(checkpoint, map_location=device, weights_only=True)
        if len(ck["members"]) != K:
            raise ValueError(f"{checkpoint}: a checkpoint of {len(ck['members'])} packed models, expected {K}")
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        for objective, member, o_state, m_state in zip(objectives, selections, ck["objectives"], ck["members"]):
            objective.load_state_dict(o_state)
            member.load_state_dict(m_state)
        start, spent = ck["epoch"] + 1, ck["seconds"]
    clock = CheckpointClock(settings.checkpoint_seconds)
    bar = tqdm(range(start, settings.epochs), desc=f"{desc} (x{K} packed)", leave=False,
               disable=not settings.progress, initial=start, total=settings.epochs)
    with ThreadPoolExecutor(max_workers=K, thread_name_prefix="lockstep") as pool:
        for epoch in bar:
            t0 = time.perf_counter()
            model.train()
            for member in members:
                member.train()
            loss_sum = torch.zeros(K, device=device)  # summed on the device, read once per epoch
            part_sums: list[dict[str, torch.Tensor]] = [{} for _ in range(K)]
            first_bad = torch.full((), -1, dtype=torch.long, device=device)
            for i in range(steps):
                step = epoch * steps + i
                losses, parts = packed_set.step(step, total, settings.amp, pool)
                first_bad = note_first_bad(first_bad, losses, step)
                loss_sum += losses.detach().float()
                for sums, named in zip(part_sums, parts):
                    for name, value in named.items():
                        sums[name] = sums.get(name, 0.0) + value.detach().float()
            check_finite(first_bad, desc, epoch, settings.lr)
            for k, (objective, member, sel) in enumerate(zip(objectives, members, selections)):
                scores = {}
                for name, network in objective.eval_candidates(member).items():
                    state = network.state_dict()
                    scratch.load_state_dict(state)
                    scores[name], higher = selection_score(scratch, val, task, settings, device)
                    network.eval()  # as validation leaves a separately trained network
                    if improves(scores[name], sel.best_score, higher):
                        sel.best_score, sel.best_epoch, sel.best_state, sel.best_name = scores[name], epoch, state, name
                sel.history.append({"epoch": epoch, "loss": float(loss_sum[k]) / steps,
                                    **{n: float(v) / steps for n, v in part_sums[k].items()},
                                    "val_score": scores["student"],
                                    **{f"val_score_{n}": v for n, v in scores.items() if n != "student"}})
            if device.type == "cuda":
                torch.cuda.synchronize()
            elapsed = time.perf_counter() - t0
            spent += elapsed
            for sel in selections:
                sel.history[-1]["seconds"] = elapsed / K
            bar.set_postfix(val=" ".join(f"{m.history[-1]['val_score']:.3f}" for m in selections))
            if checkpoint is not None and epoch + 1 < settings.epochs and clock.due():
                atomic_save({"model": model.state_dict(), "opt": opt.state_dict(),
                             "objectives": [o.state_dict() for o in objectives],
                             "members": [m.state_dict() for m in selections], "epoch": epoch, "seconds": spent},
                            checkpoint)
    return [TrainResult(state=copy.deepcopy(m.best_state), best_epoch=m.best_epoch, best_score=float(m.best_score),
                        history=m.history, seconds=spent / K, evaluated=m.best_name) for m in selections]
