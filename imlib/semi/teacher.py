"""The EMA ("mean") teacher shared by U2PL, iMAS and FPL."""
from __future__ import annotations

import copy

import torch
from torch import nn


def make_teacher(student: nn.Module) -> nn.Module:
    """A frozen copy of the student (for a member of a packed set, its slice of one packed frozen copy:
    its ``make_teacher``, :class:`imlib.lockstep.MemberNetwork`)."""
    if hasattr(student, "make_teacher"):
        return student.make_teacher()
    teacher = copy.deepcopy(student)
    for p in teacher.parameters():
        p.requires_grad_(False)
    return teacher


@torch.no_grad()
def ema_update(teacher: nn.Module, student: nn.Module, step: int, momentum: float,
               buffers: bool = True) -> float:
    """teacher <- d * teacher + (1 - d) * student with d = min(1 - 1 / (step + 1), momentum), the
    warm-up used by U2PL, iMAS and UniMatch V2 (early on the teacher follows the student closely).

    ``buffers``: also average BatchNorm running statistics (iMAS, UniMatch V2); U2PL and FPL (official
    AEL+FPL) average the parameters only and let the teacher's own train-mode forwards update its
    statistics.
    Returns the decay used.
    """
    decay = min(1.0 - 1.0 / (step + 1), momentum)
    for t, s in zip(teacher.parameters(), student.parameters()):
        t.mul_(decay).add_(s.detach(), alpha=1 - decay)
    if buffers:
        for t, s in zip(teacher.buffers(), student.buffers()):
            if t.dtype.is_floating_point:
                t.mul_(decay).add_(s, alpha=1 - decay)
            else:
                t.copy_(s)
    return decay
