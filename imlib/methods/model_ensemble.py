"""Model Ensemble: the same teachers and generations as IM, but no mask: the paper's control for what the mask adds.

Pseudo-labels: binary unanimous foreground, multi-class soft vote (mean softmax -> argmax),
multi-label mean probability > 0.5 with the position discs redrawn. Inputs are left untouched.
"""
from __future__ import annotations

import torch

from imlib.data.task import Task
from imlib.im import ensemble_label
from imlib.methods.generational import PairRule, Pairs, run_generations
from imlib.methods.shared import Run
from imlib.records import GenerationRecord


def pair_rule(task: Task) -> PairRule:
    """ME's rule: the teachers' probabilities -> (image as it is, ensemble pseudo-label, empty mask, all kept)."""

    def rule(probs: torch.Tensor, images: torch.Tensor) -> Pairs:
        label = ensemble_label(probs, task)
        none = torch.zeros(label.shape[0], *label.shape[2:], dtype=torch.bool, device=label.device)
        return Pairs(images, label, none, torch.ones(len(images), dtype=torch.bool, device=images.device))

    return rule


def run(run: Run) -> list[GenerationRecord]:
    return run_generations(run, pair_rule(run.task))
