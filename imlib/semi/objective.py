"""The training objective every semi-supervised baseline builds on.

A step sees a labeled batch (as LDT sees it, unaugmented) and an unlabeled batch of the same size
as a weak view; methods that CutMix with a second unlabeled batch draw it from the "partner" shuffle
(UniMatch's second loader; iMAS mixes within its own batch, U2PL pairs neighbours). An epoch is one
pass over the unlabeled set (UniMatch, U2PL, iMAS) unless the preset fixes the steps per epoch. Every method supervises the labeled batch with the paper's task loss, so that the
comparison with LDT/IM isolates what the method does with the unlabeled images.

Naming follows UniMatch: ``x`` labeled, ``u`` unlabeled, ``m`` the CutMix partner; ``w``/``s1``/``s2``
weak and strong views.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from imlib.data import SegData
from imlib.data.task import Task
from imlib.engine import BatchStream, Objective
from imlib.losses import activate, task_loss
from imlib.methods.options import Option, resolve_options
from imlib.semi.pseudo import label_and_confidence
from imlib.semi.teacher import ema_update, make_teacher
from imlib.semi.views import cutmix_boxes, strong_view, weak_view


@contextmanager
def eval_mode(model: nn.Module):
    """Eval mode (BN running statistics) inside the block, the previous mode restored after it."""
    was = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was)


class SemiObjective(Objective):
    """Labeled/unlabeled batches, weak and strong views, a device generator, and resumable state.

    Subclasses declare ``OPTIONS`` (their hyperparameters, each with its reason; ``options`` may override
    any of them and nothing else) and implement ``loss``.
    """

    OPTIONS: dict[str, Option] = {}
    # its K models may train together in lockstep on one packed network (imlib.lockstep): every step makes
    # the same network calls whatever the data (False where a data-dependent draw changes them)
    LOCKSTEP = True

    def __init__(self, labeled: SegData, unlabeled: torch.Tensor, task: Task, batch_size: int,
                 options: dict[str, Any] | None = None):
        if len(labeled) == 0:
            raise ValueError(f"{type(self).__name__}: the labeled set is empty")
        if len(unlabeled) == 0:
            raise ValueError(f"{type(self).__name__}: the unlabeled set is empty")
        self.options = resolve_options(type(self).__name__, self.OPTIONS, options)
        self.labeled, self.unlabeled, self.task, self.batch_size = labeled, unlabeled, task, batch_size

    # --- set-up and state -----------------------------------------------------------------------

    def epoch_size(self) -> int:
        return len(self.unlabeled)

    def bind(self, model: nn.Module, device: torch.device, seed: int) -> None:
        self.device = self.unlabeled.device
        self.gen = torch.Generator(device=self.device).manual_seed(seed)
        self.streams = {"labeled": BatchStream(len(self.labeled), seed),
                        "unlabeled": BatchStream(len(self.unlabeled), seed + 1),
                        "partner": BatchStream(len(self.unlabeled), seed + 2)}

    def state_dict(self) -> dict:
        return {"gen": self.gen.get_state(), "streams": {k: s.state_dict() for k, s in self.streams.items()}}

    def load_state_dict(self, state: dict) -> None:
        self.gen.set_state(state["gen"].cpu())  # map_location may have moved it
        for k, s in self.streams.items():
            s.load_state_dict(state["streams"][k])

    # --- batches and views ----------------------------------------------------------------------

    def labeled_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """A labeled batch exactly as LDT sees it (no flips or rotations: LDT, ME and IM train without
        online augmentation, so the baselines' labeled signal must not get any either)."""
        idx = self.streams["labeled"].next(self.batch_size, self.device)
        return self.labeled.images[idx], self.labeled.labels[idx]

    def unlabeled_batch(self, stream: str = "unlabeled") -> torch.Tensor:
        idx = self.streams[stream].next(self.batch_size, self.device)
        return weak_view(self.unlabeled[idx], None, self.task.augment.free_rotation, self.gen)[0]

    def strong(self, images: torch.Tensor) -> torch.Tensor:
        return strong_view(images, self.gen)

    def boxes(self, images: torch.Tensor, **kwargs) -> torch.Tensor:
        return cutmix_boxes(images.shape[0], images.shape[-2], images.shape[-1], self.gen, images.device, **kwargs)

    # --- predictions and losses -----------------------------------------------------------------

    def pseudo(self, logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(pseudo-label, confidence) from logits, detached."""
        return label_and_confidence(activate(logits.detach().float(), self.task), self.task)

    @torch.no_grad()
    def predict_eval(self, model: nn.Module, images: torch.Tensor) -> torch.Tensor:
        """Logits of an eval-mode forward that leaves the model in the mode it was in."""
        with eval_mode(model):
            return model(images).float()

    def supervised(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return task_loss(logits, labels, self.task)


class MeanTeacherObjective(SemiObjective):
    """A semi-supervised objective with an EMA teacher (``options["ema"]``) that labels the unlabeled
    images and is validated beside the student once it has started (iMAS, FPL, U2PL).

    ``EMA_BUFFERS``: average BatchNorm statistics too (iMAS) or only the parameters (FPL, U2PL, whose
    teacher's train-mode forwards update its own statistics). ``ema_pairs`` lists every (teacher,
    student) pair the update averages (U2PL adds its representation head). A teacher starts as a copy of
    the initial student unless ``teacher_started`` is set False in ``bind`` and :meth:`start_teacher` is
    called later (U2PL after its supervised-only phase).
    """

    EMA_BUFFERS = True

    def bind(self, model: nn.Module, device: torch.device, seed: int) -> None:
        super().bind(model, device, seed)
        self.teacher = make_teacher(model)
        self.teacher_started = True

    def ema_pairs(self, model: nn.Module) -> list[tuple[nn.Module, nn.Module]]:
        return [(self.teacher, model)]

    def start_teacher(self, model: nn.Module) -> None:
        """The teacher(s) become copies of the current student(s)."""
        for teacher, student in self.ema_pairs(model):
            teacher.load_state_dict(student.state_dict())
        self.teacher_started = True

    @torch.no_grad()
    def teacher_probs(self, images: torch.Tensor) -> torch.Tensor:
        """The teacher's class probabilities (eval mode, float32)."""
        self.teacher.eval()
        return activate(self.teacher(images).float(), self.task)

    def after_step(self, model: nn.Module, step: int) -> None:
        if self.teacher_started:
            for teacher, student in self.ema_pairs(model):
                ema_update(teacher, student, step, self.options["ema"], buffers=self.EMA_BUFFERS)

    def eval_candidates(self, model: nn.Module) -> dict[str, nn.Module]:
        """Student and EMA teacher are both validated every epoch and the better one is kept (the
        official iMAS and UniMatch V2 evaluate both): at a few hundred steps an EMA of decay 0.99-0.996
        still carries much of its random start."""
        return {"student": model, "teacher": self.teacher} if self.teacher_started else {"student": model}

    def state_dict(self) -> dict:
        return {**super().state_dict(), "teacher": self.teacher.state_dict(), "teacher_started": self.teacher_started}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.teacher.load_state_dict(state["teacher"])
        self.teacher_started = bool(state["teacher_started"])
