"""The one training loop every method shares.

Defaults follow the paper's training protocol as the authors' official code runs it: AdamW, batch 32,
``epochs`` of floor(N / batch) steps (batches run across epoch boundaries, as tf.data's ``repeat``), no
online augmentation, the weights of the best validation epoch are kept. Data stay on the training device
as uint8 tensors; a batch is an index into them. An atomic checkpoint is written after every epoch (or, with ``checkpoint_seconds``, after
the first epoch that ends that long after the last one), so an interrupted training resumes at its last
checkpoint and ends with the same weights as an uninterrupted one. The best weights stay on the device.
Sets of models trained together in one packed network: :mod:`imlib.packed`.
"""
from __future__ import annotations

import copy
import os
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn
from tqdm.auto import tqdm

from imlib import metrics
from imlib.data import SegData
from imlib.data.task import Task
from imlib.losses import activate, discretise, task_loss
from imlib.selection import improves


class DivergenceError(ValueError):
    """The training loss became NaN or infinite: the run stops, and no model or record is kept."""


def pick_device(name: str = "auto") -> torch.device:
    """``auto`` (CUDA when there is one, else the CPU), or a device torch knows and this machine has."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise ValueError(f"device {name!r} is not a device name (expected auto, cpu, cuda or cuda:N)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} asked for, but CUDA is not available on this machine (use auto or cpu)")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise ValueError(f"device {name!r} asked for, but this machine has {torch.cuda.device_count()} CUDA devices")
    return device


def deterministic_kernels(device: torch.device) -> None:
    """On CUDA, cuDNN's deterministic kernels without autotuning: the same seed then gives the same
    weights (autotuned or non-deterministic convolution kernels do not); the CPU is deterministic already."""
    if device.type == "cuda":
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False


def amp_dtype(device: torch.device, enabled: bool = True) -> torch.dtype | None:
    """The mixed-precision type of ``device``: bf16 on a GPU that computes it natively (Ampere and newer;
    no loss scaling needed), fp16 on older GPUs (Colab's T4, with a loss scaler: see :func:`make_scaler`),
    ``None`` (float32) on the CPU or when ``enabled`` is false."""
    if not enabled or device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported(including_emulation=False) else torch.float16


def precision_name(device: torch.device, enabled: bool = True) -> str:
    """``bf16``, ``fp16`` or ``fp32``: what a record and the notebooks' device line say."""
    return {torch.bfloat16: "bf16", torch.float16: "fp16", None: "fp32"}[amp_dtype(device, enabled)]


def autocast(device: torch.device, enabled: bool = True):
    """Autocast to :func:`amp_dtype` on CUDA; nothing on the CPU."""
    dtype = amp_dtype(device, enabled)
    return torch.autocast("cuda", dtype=dtype) if dtype is not None else nullcontext()


def make_scaler(device: torch.device, enabled: bool = True) -> torch.amp.GradScaler | None:
    """A loss scaler where autocast runs in fp16 (whose small gradients underflow without one); ``None``
    for bf16 and fp32, which need none."""
    return torch.amp.GradScaler("cuda") if amp_dtype(device, enabled) == torch.float16 else None


def optimizer_step(loss: torch.Tensor, opt: torch.optim.Optimizer, scaler: torch.amp.GradScaler | None = None) -> None:
    """Backward pass and optimiser step, through ``scaler`` when there is one (fp16)."""
    opt.zero_grad(set_to_none=True)
    if scaler is None:
        loss.backward()
        opt.step()
    else:
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()


@dataclass
class TrainSettings:
    """How one model trains, from the run's configuration: epochs, batch, optimiser, precision, checkpoints."""

    epochs: int = 50
    batch_size: int = 32
    steps_per_epoch: int | None = None
    lr: float = 3e-3
    weight_decay: float = 1e-4 / 3e-3
    amp: bool = True
    eval_batch_size: int = 64
    progress: bool = True
    checkpoint_seconds: float = 0.0  # 0: a checkpoint after every epoch; else at most one per this many seconds


@dataclass
class TrainResult:
    state: dict[str, torch.Tensor]  # best weights (on the training device)
    best_epoch: int
    best_score: float
    history: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    evaluated: str = "student"  # which of the objective's candidate networks the weights are


def selection_score(model: nn.Module, val: SegData, task: Task, settings: TrainSettings,
                    device) -> tuple[float, bool]:
    """The per-epoch checkpoint criterion of the original. Returns (score, higher_is_better).

    * binary: dataset-level val IoU (``metrics.dataset_iou``: intersection and union summed over all val
      pixels), as the original's monitor Keras ``BinaryIoU(target_class_ids=[1], threshold=0.5)``
      (``val_binary_io_u``). Only the checkpoint uses it: the reported ISIC score stays the per-image
      mean IoU of :func:`imlib.metrics.score`, as the original's ``benchmark_ISIC2018``.
    * multi-class: val per-image mIoU (the original used a soft batch mIoU);
    * multi-label: val loss (as the original)."""
    if task.kind == "multilabel":
        return validation_loss(model, val, task, settings, device), False
    pred = predict_labels(model, val.images, task, settings.eval_batch_size, settings.amp)
    if task.kind == "binary":
        gt = val.labels[:, 0].to(pred.device)
        return metrics.dataset_iou(pred[:, 0] == 1, gt == 1, valid=gt != task.ignore_index), True
    return metrics.score(pred, val.labels, task)[task.metric], True


@torch.no_grad()
def predict_probs(model: nn.Module, images: torch.Tensor, task: Task, batch_size: int = 64,
                  amp: bool = True) -> torch.Tensor:
    model.eval()
    dev = next(model.parameters()).device
    out = []
    for start in range(0, len(images), batch_size):
        with autocast(dev, amp):
            out.append(activate(model(images[start:start + batch_size].to(dev)), task).float())
    return torch.cat(out)


def predict_labels(model: nn.Module, images: torch.Tensor, task: Task, batch_size: int = 64,
                   amp: bool = True) -> torch.Tensor:
    """Discrete (uint8) predictions, discretised batch by batch: a full set's float probabilities are never
    held at once (Cityscapes' validation set would be gigabytes)."""
    return torch.cat([discretise(predict_probs(model, images[i:i + batch_size], task, batch_size, amp), task)
                      for i in range(0, len(images), batch_size)])


@torch.no_grad()
def validation_loss(model: nn.Module, data: SegData, task: Task, settings: TrainSettings, device) -> float:
    model.eval()
    total, n = 0.0, 0
    step = settings.eval_batch_size
    for i in range(0, len(data), step):
        x, y = data.images[i:i + step], data.labels[i:i + step]
        with autocast(device, settings.amp):
            total += float(task_loss(model(x), y, task)) * len(x)
        n += len(x)
    return total / max(n, 1)


def evaluate(model: nn.Module, data: SegData, task: Task, batch_size: int = 64, amp: bool = True) -> dict[str, float]:
    return metrics.score(predict_labels(model, data.images, task, batch_size, amp), data.labels, task)


def to_device_async(t: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A host tensor on ``device`` without making the host wait: on CUDA through pinned memory with a
    non-blocking copy (a copy from pageable memory waits for everything queued on the device first)."""
    if device.type == "cpu":
        return t
    return t.pin_memory().to(device, non_blocking=True)


class BatchStream:
    """Shuffled indices, a new permutation whenever one runs out (state saved in checkpoints).

    The permutations come from a CPU generator (so that the order is the same on every device); the
    indices go to the device with :func:`to_device_async`."""

    def __init__(self, n: int, seed: int):
        self.n, self.gen = n, torch.Generator().manual_seed(seed)
        self.perm, self.pos = torch.randperm(n, generator=self.gen), 0

    def next(self, k: int, device: torch.device | None = None) -> torch.Tensor:
        """The next ``k`` indices (on ``device`` when given)."""
        if device is not None:
            return to_device_async(self.next(k), torch.device(device))
        parts = []
        while k > 0:
            if self.pos >= self.n:
                self.perm, self.pos = torch.randperm(self.n, generator=self.gen), 0
            take = self.perm[self.pos:self.pos + k]
            parts.append(take)
            self.pos += len(take)
            k -= len(take)
        return torch.cat(parts)

    def state_dict(self) -> dict:
        return {"gen": self.gen.get_state(), "perm": self.perm, "pos": self.pos}

    def load_state_dict(self, state: dict) -> None:
        self.gen.set_state(state["gen"])
        self.perm, self.pos = state["perm"], state["pos"]


class CheckpointClock:
    """When to write the next checkpoint: after every epoch (``every`` = 0) or after the first epoch that
    ends ``every`` seconds or more after the last checkpoint (a time-based rule keeps the saving cost a
    bounded share of training whatever the epoch length)."""

    def __init__(self, every: float):
        self.every, self.last = every, time.monotonic()

    def due(self) -> bool:
        if self.every > 0 and time.monotonic() - self.last < self.every:
            return False
        self.last = time.monotonic()
        return True


def check_finite(first_bad: torch.Tensor, desc: str, epoch: int, lr: float) -> None:
    """Raise :class:`DivergenceError` if an epoch saw a non-finite loss (``first_bad``: its first step, or -1;
    noted on the device each step and read once per epoch, so no host sync per step)."""
    if int(first_bad) >= 0:
        raise DivergenceError(f"{desc}: the training loss became non-finite at epoch {epoch}, step "
                              f"{int(first_bad)} (lr {lr:g}); no model or record is kept - lower the "
                              "learning rate or check the data")


def note_first_bad(first_bad: torch.Tensor, loss: torch.Tensor, step: int) -> torch.Tensor:
    """``first_bad`` updated with this step (on the device)."""
    bad = ~torch.isfinite(loss.detach()).all()
    return torch.where(bad & (first_bad < 0), step, first_bad)


def atomic_save(obj, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    torch.save(obj, tmp)
    os.replace(tmp, path)


class Objective:
    """What one training step minimises. The engine owns everything else (optimiser, epochs,
    selection on validation, checkpoints), so a semi-supervised method is only its per-step loss,
    plus whatever state it keeps (an EMA teacher, a memory bank, its own random streams)."""

    def bind(self, model: nn.Module, device: torch.device, seed: int) -> None:
        """Called once with the freshly built student, before the optimiser is made."""

    def epoch_size(self) -> int:
        """Samples per epoch: an epoch is floor(epoch_size / batch) steps unless the preset fixes it."""
        raise NotImplementedError

    def parameters(self) -> list[nn.Parameter]:
        """Trainable parameters besides the student's (e.g. a projection head)."""
        return []

    def loss(self, model: nn.Module, step: int, total_steps: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The loss of step ``step`` (0-based) and its named parts (detached, for the history)."""
        raise NotImplementedError

    def after_step(self, model: nn.Module, step: int) -> None:
        """Called after each optimiser step (e.g. the EMA teacher update)."""

    def eval_candidates(self, model: nn.Module) -> dict[str, nn.Module]:
        """The networks validated after every epoch, by name; the best (network, epoch) on validation is
        kept. The student alone by default; a mean teacher offers its EMA teacher too, as the official
        iMAS and UniMatch V2 evaluate both (an EMA lags the student early in a short training)."""
        return {"student": model}

    def state_dict(self) -> dict:
        """Everything needed to resume (random streams, teachers...); subclasses extend ``super()``'s."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


class Supervised(Objective):
    """The paper's step: the task loss on a shuffled batch of (image, label) pairs, no augmentation."""

    def __init__(self, train: SegData, task: Task, batch_size: int):
        if len(train) == 0:
            raise ValueError("the training set is empty")
        self.train, self.task, self.batch_size = train, task, batch_size

    def epoch_size(self):
        return len(self.train)

    def bind(self, model, device, seed):
        self.stream = BatchStream(len(self.train), seed)

    def loss(self, model, step, total_steps):
        idx = self.stream.next(self.batch_size, self.train.images.device)
        loss = task_loss(model(self.train.images[idx]), self.train.labels[idx], self.task)
        return loss, {}

    def state_dict(self):
        return {"stream": self.stream.state_dict()}

    def load_state_dict(self, state):
        self.stream.load_state_dict(state["stream"])


def make_optimizer(params, settings: TrainSettings) -> torch.optim.Optimizer:
    """The paper's AdamW (TF's epsilon 1e-7)."""
    return torch.optim.AdamW(params, lr=settings.lr, weight_decay=settings.weight_decay, eps=1e-7)


def training_step(model: nn.Module, objective: Objective, opt: torch.optim.Optimizer, step: int, total: int,
                  device: torch.device, amp: bool, scaler: torch.amp.GradScaler | None = None
                  ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """One optimiser step on ``objective``'s loss (also what ``benchmarks/study_b_cost.py`` times)."""
    with autocast(device, amp):
        loss, parts = objective.loss(model, step, total)
    optimizer_step(loss, opt, scaler)
    objective.after_step(model, step)
    return loss, parts


def train_model(build: Callable[[], nn.Module], objective: Objective, val: SegData, task: Task,
                settings: TrainSettings, seed: int, device: torch.device, checkpoint: Path | None = None,
                desc: str = "train") -> TrainResult:
    """Train one model from scratch (or resume it from ``checkpoint``) on ``objective`` and return the
    weights of its best validation epoch."""
    if len(val) == 0:
        raise ValueError(f"{desc}: the validation set is empty")
    torch.manual_seed(seed)
    deterministic_kernels(device)
    model = build().to(device)
    objective.bind(model, device, seed)
    opt = make_optimizer(list(model.parameters()) + objective.parameters(), settings)
    scaler = make_scaler(device, settings.amp)
    steps = settings.steps_per_epoch or max(1, objective.epoch_size() // settings.batch_size)
    total = steps * settings.epochs
    start, best_score, best_epoch, best_state, best_name, history, spent = 0, None, -1, None, "student", [], 0.0
    if checkpoint is not None and checkpoint.exists():
        ck = torch.load(checkpoint, map_location=device, weights_only=True)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        objective.load_state_dict(ck["objective"])
        start, best_score, best_epoch = ck["epoch"] + 1, ck["best_score"], ck["best_epoch"]
        best_state, best_name, history, spent = ck["best_state"], ck["best_name"], ck["history"], ck["seconds"]
    clock = CheckpointClock(settings.checkpoint_seconds)
    bar = tqdm(range(start, settings.epochs), desc=desc, leave=False, disable=not settings.progress, initial=start,
               total=settings.epochs)
    for epoch in bar:
        t0 = time.perf_counter()
        model.train()
        running: dict[str, torch.Tensor] = {}
        first_bad = torch.full((), -1, dtype=torch.long, device=device)  # first step with a non-finite loss
        for i in range(steps):
            step = epoch * steps + i
            loss, parts = training_step(model, objective, opt, step, total, device, settings.amp, scaler)
            first_bad = note_first_bad(first_bad, loss, step)
            for name, value in {"loss": loss, **parts}.items():
                running[name] = running.get(name, 0.0) + value.detach().float()
        check_finite(first_bad, desc, epoch, settings.lr)
        scores = {}
        for name, network in objective.eval_candidates(model).items():
            score, higher = selection_score(network, val, task, settings, device)
            scores[name] = score
            if improves(score, best_score, higher):
                best_score, best_epoch, best_name = score, epoch, name
                best_state = {k: v.detach().clone() for k, v in network.state_dict().items()}  # stays on the device
        score = scores["student"]
        if device.type == "cuda":
            torch.cuda.synchronize()
        spent += time.perf_counter() - t0
        history.append({"epoch": epoch, **{k: float(v) / steps for k, v in running.items()}, "val_score": score,
                        **{f"val_score_{k}": v for k, v in scores.items() if k != "student"},
                        "seconds": time.perf_counter() - t0})
        bar.set_postfix(loss=f"{history[-1]['loss']:.4f}", val=f"{score:.4f}")
        if checkpoint is not None and epoch + 1 < settings.epochs and clock.due():
            atomic_save({"model": model.state_dict(), "opt": opt.state_dict(), "objective": objective.state_dict(),
                         "epoch": epoch, "best_score": best_score, "best_epoch": best_epoch,
                         "best_state": best_state, "best_name": best_name, "history": history, "seconds": spent}, checkpoint)
    return TrainResult(state=copy.deepcopy(best_state), best_epoch=best_epoch, best_score=float(best_score),
                       history=history, seconds=spent, evaluated=best_name)
