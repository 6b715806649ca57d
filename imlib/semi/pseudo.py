"""Pseudo-labels, confidences and per-pixel losses for every task kind.

The SSL papers are written for softmax classifiers. What a "class" means here, per task kind:

* multi-class: the softmax classes; pseudo-label = argmax, confidence = max probability;
* binary and multi-label: every output channel is its own two-class problem (off/on) with
  probabilities (1 - p, p); pseudo-label = the discretised channel (the paper's threshold),
  confidence = max(p, 1 - p), per channel (the distance of p from 0.5, plus 0.5).

So a confidence mask has the label layout (B, L, H, W) (L = 1 for multi-class) and a pixel loss map
the same shape; methods that need class distributions (U2PL's entropy and ranks, FPL's candidate
sets) get them as "class groups": one (B, K, H, W) distribution per two-class channel, or the one
softmax distribution.
"""
from __future__ import annotations

import torch

from imlib.data.task import Task
from imlib.losses import discretise, pixel_loss


def label_and_confidence(probs: torch.Tensor, task: Task) -> tuple[torch.Tensor, torch.Tensor]:
    """Probabilities (B, C, H, W) -> pseudo-labels (B, L, H, W) uint8 and confidences (B, L, H, W)."""
    if task.kind == "multiclass":
        conf, label = probs.max(1, keepdim=True)
        return label.to(torch.uint8), conf
    return discretise(probs, task), torch.maximum(probs, 1 - probs)


def masked_mean(loss_map: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Sum of the loss over ``mask`` divided by the number of all pixels, not by the number of
    masked-in ones: the normalisation of FixMatch/UniMatch, so that a step with few confident pixels
    has a small loss rather than a noisy one."""
    return (loss_map * mask).sum() / loss_map.numel()


def class_groups(probs: torch.Tensor, task: Task) -> list[torch.Tensor]:
    """The class distributions of a prediction: [softmax (B, C, H, W)] for multi-class, one
    (B, 2, H, W) = (1 - p, p) per channel otherwise."""
    if task.kind == "multiclass":
        return [probs]
    return [torch.stack([1 - probs[:, c], probs[:, c]], 1) for c in range(probs.shape[1])]


def group_logits(logits: torch.Tensor, task: Task) -> list[torch.Tensor]:
    """Logits matching :func:`class_groups`: a sigmoid channel z is the two-class softmax of (0, z)."""
    if task.kind == "multiclass":
        return [logits]
    return [torch.stack([torch.zeros_like(logits[:, c]), logits[:, c]], 1) for c in range(logits.shape[1])]


def entropy(probs: torch.Tensor, task: Task) -> torch.Tensor:
    """Per-pixel entropy in the confidence layout (B, L, H, W): of the softmax, or of each channel."""
    groups = class_groups(probs.float(), task)
    return torch.cat([-(g * g.clamp_min(1e-12).log()).sum(1, keepdim=True) for g in groups], 1)


def confident_loss(logits: torch.Tensor, target: torch.Tensor, confidence: torch.Tensor, tau: float,
                   task: Task) -> torch.Tensor:
    """FixMatch's unlabeled loss: the task loss against the pseudo-label on pixels whose confidence
    is at least ``tau``, normalised by all pixels."""
    return masked_mean(pixel_loss(logits, target, task), confidence >= tau)
