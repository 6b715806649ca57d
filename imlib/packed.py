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

Only the paper's supervised step (:class:`~imlib.engine.Supervised`) is packed; semi-supervised objectives
with teachers and banks train one model at a time (``Run.train_models`` chooses).
"""
from __future__ import annotations

import copy
import time
from collections.abc import Callable

import torch
from torch import nn
from tqdm.auto import tqdm

from imlib.data import SegData
from imlib.data.task import Task
from imlib.engine import (CheckpointClock, Supervised, TrainResult, TrainSettings, atomic_save, autocast,
                          check_finite, deterministic_kernels, make_optimizer, note_first_bad, selection_score)
from imlib.losses import task_loss
from imlib.models.unet import LightUNet, pack, split_outputs, stack_inputs, unpack
from imlib.selection import improves


def packable(objective: object, network: nn.Module) -> bool:
    """Whether a model can train in a packed set: the paper's supervised step on a single LightUNet."""
    return type(objective) is Supervised and isinstance(network, LightUNet) and network.models == 1


class _Member:
    """One member's selection state: best validation score, epoch and weights, and its history."""

    def __init__(self):
        self.best_score, self.best_epoch, self.best_state, self.history = None, -1, None, []

    def state_dict(self) -> dict:
        return {"best_score": self.best_score, "best_epoch": self.best_epoch, "best_state": self.best_state,
                "history": self.history}

    def load_state_dict(self, state: dict) -> None:
        self.best_score, self.best_epoch = state["best_score"], state["best_epoch"]
        self.best_state, self.history = state["best_state"], state["history"]


def packed_step(model: LightUNet, objectives: list[Supervised], task: Task, opt: torch.optim.Optimizer,
                device: torch.device, amp: bool) -> torch.Tensor:
    """One optimiser step of every member, each on the next batch of its own stream; returns the K losses."""
    idx = [o.stream.next(o.batch_size, o.train.images.device) for o in objectives]
    with autocast(device, amp):
        logits = split_outputs(model(stack_inputs([o.train.images[j] for o, j in zip(objectives, idx)])), model.models)
        losses = torch.stack([task_loss(logits[k], o.train.labels[j], task) for k, (o, j) in enumerate(zip(objectives, idx))])
    opt.zero_grad(set_to_none=True)
    losses.sum().backward()
    opt.step()
    return losses


def train_packed(build: Callable[[], nn.Module], objectives: list[Supervised], val: SegData, task: Task,
                 settings: TrainSettings, seeds: list[int], device: torch.device, checkpoint=None,
                 desc: str = "train") -> list[TrainResult]:
    """Train ``len(objectives)`` models together (member k: ``objectives[k]``, ``seeds[k]``) and return each
    one's best validation epoch, as :func:`~imlib.engine.train_model` would for each alone. ``seconds`` of
    a member is the packed training's time divided equally among the members."""
    if len(val) == 0:
        raise ValueError(f"{desc}: the validation set is empty")
    if len(objectives) != len(seeds) or not objectives:
        raise ValueError(f"{desc}: one seed per objective expected, got {len(seeds)} seeds for {len(objectives)}")
    K = len(objectives)
    deterministic_kernels(device)
    singles = []
    for objective, seed in zip(objectives, seeds):
        torch.manual_seed(seed)  # member k starts as a separate training with seed k would
        net = build().to(device)
        if not packable(objective, net):
            raise ValueError(f"{desc}: only the supervised step on a single LightUNet can be packed")
        objective.bind(net, device, seed)
        singles.append(net)
    if len({o.batch_size for o in objectives}) != 1:
        raise ValueError(f"{desc}: packed members need one batch size")
    model, scratch = pack(singles), singles[0]  # scratch: one member's weights at a time, for validation
    del singles[1:]
    opt = make_optimizer(model.parameters(), settings)
    steps = settings.steps_per_epoch or max(1, objectives[0].epoch_size() // settings.batch_size)
    members = [_Member() for _ in range(K)]
    start, spent = 0, 0.0
    if checkpoint is not None and checkpoint.exists():
        ck = torch.load(checkpoint, map_location=device, weights_only=True)
        if len(ck["members"]) != K:
            raise ValueError(f"{checkpoint}: a checkpoint of {len(ck['members'])} packed models, expected {K}")
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        for objective, member, o_state, m_state in zip(objectives, members, ck["objectives"], ck["members"]):
            objective.load_state_dict(o_state)
            member.load_state_dict(m_state)
        start, spent = ck["epoch"] + 1, ck["seconds"]
    clock = CheckpointClock(settings.checkpoint_seconds)
    bar = tqdm(range(start, settings.epochs), desc=f"{desc} (x{K} packed)", leave=False,
               disable=not settings.progress, initial=start, total=settings.epochs)
    for epoch in bar:
        t0 = time.perf_counter()
        model.train()
        running = torch.zeros(K, device=device)
        first_bad = torch.full((), -1, dtype=torch.long, device=device)
        for i in range(steps):
            step = epoch * steps + i
            losses = packed_step(model, objectives, task, opt, device, settings.amp)
            first_bad = note_first_bad(first_bad, losses, step)
            running += losses.detach().float()
        check_finite(first_bad, desc, epoch, settings.lr)
        for k, (member, state) in enumerate(zip(members, unpack(model))):
            scratch.load_state_dict(state)
            score, higher = selection_score(scratch, val, task, settings, device)
            if improves(score, member.best_score, higher):
                member.best_score, member.best_epoch, member.best_state = score, epoch, state  # on the device
            member.history.append({"epoch": epoch, "loss": float(running[k]) / steps, "val_score": score})
        if device.type == "cuda":
            torch.cuda.synchronize()
        elapsed = time.perf_counter() - t0
        spent += elapsed
        for member in members:
            member.history[-1]["seconds"] = elapsed / K
        bar.set_postfix(val=" ".join(f"{m.history[-1]['val_score']:.3f}" for m in members))
        if checkpoint is not None and epoch + 1 < settings.epochs and clock.due():
            atomic_save({"model": model.state_dict(), "opt": opt.state_dict(),
                         "objectives": [o.state_dict() for o in objectives],
                         "members": [m.state_dict() for m in members], "epoch": epoch, "seconds": spent}, checkpoint)
    return [TrainResult(state=copy.deepcopy(m.best_state), best_epoch=m.best_epoch, best_score=float(m.best_score),
                        history=m.history, seconds=spent / K) for m in members]
