"""Sliding-window evaluation and confusion-matrix mIoU, as the hosts evaluate Cityscapes.

Windows are full size and shifted inside the image (the last window of a row or column ends at the border:
UniMatch V2's and U2PL's ``eval.py`` style), softmax summed where they overlap. UniMatch's own truncated edge
windows (e.g. 801 x 446) are not used: smp needs sizes divisible by the output stride.
An image smaller than the window in a dimension is zero-padded (after normalisation) up to a multiple of the
output stride and the logits cropped back. The metric is the standard one: one confusion matrix over the whole
validation set (255 never counted), IoU per class, mean over the classes that occur.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from imlib.engine import autocast
from imlib.metrics import confusion_matrix, miou_from_confusion
from imlib.semi.objective import eval_mode
from imlib.study_a.batches import IGNORE, normalize


def _starts(size: int, window: int, stride: int) -> list[int]:
    if size <= window:
        return [0]
    starts = list(range(0, size - window, stride))
    return starts + [size - window]


def _round_up(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple


@torch.no_grad()
def sliding_window_probs(model: nn.Module, image: torch.Tensor, window: int, stride: int, num_classes: int,
                         multiple: int = 16) -> torch.Tensor:
    """(1, C, H, W) summed softmax of full windows over a normalised (1, 3, H, W) image."""
    _, _, h, w = image.shape
    wh, ww = min(window, _round_up(h, multiple)), min(window, _round_up(w, multiple))
    padded = F.pad(image, (0, max(ww - w, 0), 0, max(wh - h, 0)))
    ph, pw = padded.shape[-2:]
    out = image.new_zeros(1, num_classes, ph, pw, dtype=torch.float32)
    for y in _starts(ph, wh, stride):
        for x in _starts(pw, ww, stride):
            logits = model(padded[:, :, y:y + wh, x:x + ww]).float()
            out[:, :, y:y + wh, x:x + ww] += logits.softmax(1)
    return out[:, :, :h, :w]


def predict_classes(model: nn.Module, image: torch.Tensor, window: int, stride: int, num_classes: int,
                    device, amp: bool = True, multiple: int = 16) -> torch.Tensor:
    """(H, W) class map of a uint8 (3, H, W) image: what evaluation and the IM plug-in's teachers both use."""
    device = torch.device(device)
    x = normalize(image[None].to(device))
    with eval_mode(model), autocast(device, amp):
        return sliding_window_probs(model, x, window, stride, num_classes, multiple).argmax(1)[0]


def confusion(model: nn.Module, dataset, num_classes: int, window: int, stride: int, device, amp: bool = True,
              multiple: int = 16, indices: Sequence[int] | None = None) -> torch.Tensor:
    """The (C, C) confusion matrix (rows truth, columns prediction) of ``dataset`` items {"image", "label"}
    (``indices``: this process's share); summed over the processes when torch.distributed runs."""
    cm = torch.zeros(num_classes, num_classes, dtype=torch.int64)
    for i in range(len(dataset)) if indices is None else indices:
        item = dataset[i]
        pred = predict_classes(model, item["image"], window, stride, num_classes, device, amp, multiple)
        cm += confusion_matrix(pred.cpu(), item["label"], num_classes, IGNORE)
    if dist.is_available() and dist.is_initialized():
        on_device = cm.to(device)  # NCCL reduces device tensors only
        dist.all_reduce(on_device)
        cm = on_device.cpu()
    return cm


def per_class_iou(cm: torch.Tensor) -> list[float | None]:
    """IoU (%) per class; None for a class absent from both truth and prediction (it does not count)."""
    cm = cm.double()
    inter, union = cm.diag(), cm.sum(0) + cm.sum(1) - cm.diag()
    return [float(100 * i / u) if u > 0 else None for i, u in zip(inter, union)]


def miou(cm: torch.Tensor) -> float:
    """Mean IoU (%) over the classes that occur in the truth or the prediction (imlib.metrics' definition)."""
    return 100.0 * miou_from_confusion(cm)
