"""Model Ensemble: the same teachers and generations as IM, but no mask (paper-notes §2).

Pseudo-labels: binary unanimous foreground, multi-class soft vote (mean softmax -> argmax),
multi-label mean probability > 0.5 with the position discs redrawn. Inputs are left untouched.
"""
from __future__ import annotations

import torch

from imlib.im import ensemble_label
from imlib.methods.generational import Pairs, run_generations
from imlib.methods.run import Run
from imlib.records import GenerationRecord


def run(run: Run) -> list[GenerationRecord]:
    def rule(probs: torch.Tensor, images: torch.Tensor) -> Pairs:
        label = ensemble_label(probs, run.task)
        none = torch.zeros(label.shape[0], *label.shape[2:], dtype=torch.bool, device=label.device)
        return Pairs(images, label, none, torch.ones(len(images), dtype=torch.bool, device=images.device))

    return run_generations(run, rule)
