"""Inconsistency Masks (IM): the paper's core, as pure batched tensor functions.

n teachers predict the same unlabeled images. Their predictions are *discretised* (threshold or
argmax); where the discrete predictions disagree lies the inconsistency mask. The mask is removed
from both the input image and the pseudo-label before a student trains on the pair.

Shapes (B images, H x W pixels, n teachers):

* teacher probabilities: (n, B, C, H, W) float, or a sequence of n (B, C, H, W) tensors;
* multi-class teacher predictions may instead be class maps (n, B, H, W) of integer ids;
* pseudo-labels come back in the stored label layout (B, L, H, W) uint8 (see :mod:`imlib.data.task`);
* masks are (B, H, W) bool.

Follows the authors' `official 2024 code <https://github.com/MichaelVorndran/InconsistencyMasks>`_, which
fixes details the paper's text leaves open: binary ``p > 0.5``, multi-label ``p >= 0.5``,
unanimous background is *not* inconsistent, multi-class uses a reserved IM class 0, blackout of input
and label is the default (``mode="blackout"``); ``mode="ignore"`` is the modern alternative that
drops IM pixels from the loss with an ignore index.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from imlib.cell_positions import redraw_position
from imlib.data.task import Task

Mode = Literal["blackout", "ignore"]


class IMResult(NamedTuple):
    """What every IM function returns: the pseudo-label a student trains on and where the teachers disagree."""

    #: (B, L, H, W) uint8: the pseudo-label in the stored label layout, the teachers' unanimous prediction
    #: (for multi-class, the IM class or ``ignore_index`` on the mask; :func:`apply_im` masks the input).
    label: torch.Tensor
    #: (B, H, W) bool: the inconsistency mask, True where the teachers' discrete predictions disagree.
    mask: torch.Tensor


def _stack(preds: torch.Tensor | Sequence[torch.Tensor], ndim: int, what: str) -> torch.Tensor:
    if not isinstance(preds, torch.Tensor):
        preds = list(preds)
        if len(preds) < 2:
            raise ValueError(f"IM needs at least 2 teachers, got {len(preds)}")
        shapes = {tuple(p.shape) for p in preds}
        if len(shapes) != 1:
            raise ValueError(f"all teacher predictions must have the same shape, got {sorted(shapes)}")
        preds = torch.stack(preds)
    if preds.ndim != ndim:
        raise ValueError(f"expected {what} of {ndim} dims (n teachers first), got shape {tuple(preds.shape)}")
    if preds.shape[0] < 2:
        raise ValueError(f"IM needs at least 2 teachers, got {preds.shape[0]}")
    return preds


def _probabilities(preds, what: str) -> torch.Tensor:
    p = _stack(preds, 5, f"{what} probabilities (n, B, C, H, W)")
    if not p.is_floating_point():
        raise ValueError(f"{what} probabilities must be floating point, got {p.dtype}")
    return p


def binary_im(teacher_probs, threshold: float = 0.5) -> IMResult:
    """Binary task (one sigmoid channel): label = unanimous foreground, mask = partial agreement."""
    p = _probabilities(teacher_probs, "binary")
    if p.shape[2] != 1:
        raise ValueError(f"binary IM expects 1 channel, got {p.shape[2]}")
    n = p.shape[0]
    votes = (p[:, :, 0] > threshold).sum(0)  # S in 0..n
    label = (votes == n).to(torch.uint8)[:, None]
    return IMResult(label, (votes > 0) & (votes < n))


def multiclass_im(teacher_preds, im_class: int = 0, num_classes: int | None = None) -> IMResult:
    """Multi-class task: label where all teachers' argmax agree, ``im_class`` (and mask) elsewhere.

    ``teacher_preds`` is either probabilities/logits (n, B, C, H, W) or class maps (n, B, H, W).
    """
    preds = teacher_preds
    if not isinstance(preds, torch.Tensor):
        preds = _stack(preds, 4 if preds[0].ndim == 3 else 5, "multi-class predictions")
    if preds.ndim == 5:
        num_classes = preds.shape[2]
        classes = _stack(preds, 5, "multi-class probabilities").argmax(2)
    else:
        classes = _stack(preds, 4, "multi-class class maps (n, B, H, W)")
        if classes.is_floating_point():
            raise ValueError(f"class maps must be integer tensors, got {classes.dtype}")
        if num_classes is None:
            raise ValueError("num_classes is required when teachers give class maps")
        lo, hi = int(classes.min()), int(classes.max())
        if lo < 0 or hi >= num_classes:
            raise ValueError(f"class ids must lie in [0, {num_classes}), got values in [{lo}, {hi}]")
    if not 0 <= im_class < max(num_classes, 1):
        raise ValueError(f"im_class {im_class} outside [0, {num_classes})")
    agree = (classes == classes[0]).all(0)
    label = torch.where(agree, classes[0], torch.full_like(classes[0], im_class))
    return IMResult(label.to(torch.uint8)[:, None], ~agree)


def multiclass_im_ignore(teacher_preds, num_classes: int | None = None, ignore_index: int = 255) -> IMResult:
    """Multi-class IM for label sets that use every id from 0 (Cityscapes train ids: road is 0), so no class
    can be reserved: the label is the teachers' common class where they agree and ``ignore_index`` inside
    the mask (Study A: the 19-class heads and the metric stay untouched)."""
    res = multiclass_im(teacher_preds, im_class=0, num_classes=num_classes)
    label = res.label.clone()
    label[:, 0][res.mask] = ignore_index
    return IMResult(label, res.mask)


def multilabel_im(teacher_probs, position_channel: int | None = None, threshold: float = 0.5) -> IMResult:
    """Multi-label task (HeLa: alive, dead, position): each channel as binary (``p >= 0.5``), mask =
    union of the channels' partial-agreement pixels; the position channel of the pseudo-label is
    redrawn as discs at blob centroids with radius clamp(floor(d_min / 4), 3, 8)."""
    p = _probabilities(teacher_probs, "multi-label")
    n, _, c = p.shape[:3]
    if position_channel is not None and not 0 <= position_channel < c:
        raise ValueError(f"position_channel {position_channel} outside the {c} channels")
    votes = (p >= threshold).sum(0)  # (B, C, H, W)
    label = (votes == n).to(torch.uint8)
    mask = ((votes > 0) & (votes < n)).any(1)
    if position_channel is not None:
        label[:, position_channel] = redraw_positions(label[:, position_channel])
    return IMResult(label, mask)


def redraw_positions(position: torch.Tensor) -> torch.Tensor:
    """(B, H, W) position masks -> the same with every blob replaced by the paper's disc (uint8)."""
    drawn = np.stack([redraw_position(m) for m in position.bool().cpu().numpy()])
    return torch.from_numpy(drawn).to(device=position.device, dtype=torch.uint8)


def inconsistency_mask(teacher_probs, task: Task) -> IMResult:
    """Dispatch to the IM rule of the task's kind."""
    if task.kind == "binary":
        return binary_im(teacher_probs)
    if task.kind == "multiclass":
        return multiclass_im(teacher_probs, im_class=task.im_class)
    return multilabel_im(teacher_probs, position_channel=task.position_channel)


def ensemble_label(teacher_probs, task: Task) -> torch.Tensor:
    """Model Ensemble's pseudo-label (no mask): binary unanimous foreground, multi-class soft vote
    (mean softmax -> argmax), multi-label mean probability > 0.5 with the position discs redrawn."""
    p = _probabilities(teacher_probs, "ensemble")
    if task.kind == "binary":
        return binary_im(p).label
    mean = p.mean(0)
    if task.kind == "multiclass":
        return mean.argmax(1, keepdim=True).to(torch.uint8)
    label = (mean > 0.5).to(torch.uint8)
    if task.position_channel is not None:
        label[:, task.position_channel] = redraw_positions(label[:, task.position_channel])
    return label


def _dilate(mask: torch.Tensor, k: int) -> torch.Tensor:
    return F.max_pool2d(mask[:, None].float(), k, stride=1, padding=k // 2)[:, 0] > 0


def morph_mask(mask: torch.Tensor, erode: int = 0, dilate: int = 0) -> torch.Tensor:
    """Optional erosion, then dilation, of the mask with k x k all-ones kernels (0 = skip; the paper's
    released config uses 0/0, its code defaults 5/5). Erosion treats the outside as inside, as OpenCV."""
    if mask.ndim != 3 or mask.dtype != torch.bool:
        raise ValueError(f"mask must be (B, H, W) bool, got {tuple(mask.shape)} {mask.dtype}")
    for k in (erode, dilate):
        if k < 0 or (k and k % 2 == 0):
            raise ValueError(f"morphology kernel sizes must be 0 or odd, got {k}")
    if erode:
        mask = ~_dilate(~mask, erode)
    if dilate:
        mask = _dilate(mask, dilate)
    return mask


def apply_im(images: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor, task: Task,
             mode: Mode = "blackout", blackout_input: bool | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Remove the masked pixels from an (image, label) batch.

    * ``blackout`` (the paper's): image pixels set to 0 in every channel; label set to background
      (binary/multi-label: 0 in every channel) or to ``task.im_class`` (multi-class).
    * ``ignore``: label set to ``task.ignore_index`` so the loss skips it; the image is left as it is
      unless ``blackout_input=True``.
    """
    if images.ndim != 4 or labels.ndim != 4:
        raise ValueError(f"images and labels must be (B, C, H, W), got {tuple(images.shape)} and {tuple(labels.shape)}")
    if mask.ndim != 3 or mask.dtype != torch.bool:
        raise ValueError(f"mask must be (B, H, W) bool, got {tuple(mask.shape)} {mask.dtype}")
    b, h, w = mask.shape
    for name, t in (("image", images), ("label", labels)):
        if t.shape[0] != b or tuple(t.shape[-2:]) != (h, w):
            raise ValueError(f"mask of shape {(b, h, w)} does not fit the {name} batch {tuple(t.shape)}")
    if mode == "blackout":
        fill = task.im_class if task.kind == "multiclass" else 0
        blackout_input = True if blackout_input is None else blackout_input
    elif mode == "ignore":
        fill = task.ignore_index
        blackout_input = bool(blackout_input)
    else:
        raise ValueError(f"mode must be 'blackout' or 'ignore', got {mode!r}")
    m = mask[:, None]
    if blackout_input:
        images = images.masked_fill(m, 0)
    return images, labels.masked_fill(m, fill)


def keep_by_area(label: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The paper's binary image filter: keep an image only if its unanimous foreground is non-empty
    and larger than its mask. Returns a (B,) bool tensor."""
    fg = label.flatten(1).sum(1)
    return (fg > 0) & (fg > mask.flatten(1).sum(1))
