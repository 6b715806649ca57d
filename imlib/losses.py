"""The paper's training losses and the activation/discretisation that turn logits into labels.

Binary and multi-label tasks are trained with MSE on the sigmoid output (the original's choice; the
position channel's target is scaled by ``task.position_weight``), multi-class tasks with
cross-entropy. Pixels whose label equals ``task.ignore_index`` contribute nothing.

No Dice loss: the original's ``dice_loss(y_true, y_pred, smooth=1)`` is only a metric Keras logs during
ISIC training (``metrics=[dice_loss, BinaryIoU]``), never the loss; the Dice it reports is
``imlib.metrics.dice_per_image`` (its ``dice_score_numpy_binary``, also smooth = 1).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from imlib.data.task import Task


def activate(logits: torch.Tensor, task: Task) -> torch.Tensor:
    """Logits (B, C, H, W) -> probabilities: softmax for multi-class, sigmoid otherwise.

    Every prediction a model makes goes through here (evaluation, teachers' pseudo-labels): where the task
    says ``predict_im_class=False`` the softmax runs over the real classes only, so the IM class gets
    probability 0 and is never the argmax (training losses read the logits, and still see it)."""
    if task.kind != "multiclass":
        return logits.sigmoid()
    if not task.predict_im_class:
        logits = logits.clone()
        logits[:, task.im_class] = float("-inf")
    return logits.softmax(1)


def discretise(probs: torch.Tensor, task: Task) -> torch.Tensor:
    """Probabilities -> labels in the stored layout (B, L, H, W) uint8.

    Binary uses ``p > 0.5`` and multi-label ``p >= 0.5``, exactly as the original code does.
    """
    if task.kind == "multiclass":
        return probs.argmax(1, keepdim=True).to(torch.uint8)
    if task.kind == "binary":
        return (probs > 0.5).to(torch.uint8)
    return (probs >= 0.5).to(torch.uint8)


def pixel_loss(logits: torch.Tensor, labels: torch.Tensor, task: Task) -> torch.Tensor:
    """The task's training loss per pixel (and channel), (B, L, H, W); 0 where the label is ignored.

    Multi-class: cross-entropy. Binary and multi-label: squared error on the sigmoid, the position
    channel's target scaled by ``task.position_weight``.
    """
    logits = logits.float()
    if task.kind == "multiclass":
        return F.cross_entropy(logits, labels[:, 0].long(), ignore_index=task.ignore_index,
                               reduction="none")[:, None]
    valid = labels != task.ignore_index
    target = labels.float()
    if task.kind == "multilabel" and task.position_channel is not None:
        weight = torch.ones(labels.shape[1], device=labels.device)
        weight[task.position_channel] = task.position_weight
        target = target * weight.view(1, -1, 1, 1)
    return (logits.sigmoid() - target).square() * valid


def task_loss(logits: torch.Tensor, labels: torch.Tensor, task: Task) -> torch.Tensor:
    """Mean loss over the non-ignored pixels of a batch (0, with a graph, when every pixel is ignored;
    no branch on the data, so the host never waits for the device here)."""
    valid = labels != task.ignore_index
    return pixel_loss(logits, labels, task).sum() / valid.sum().clamp_min(1)
