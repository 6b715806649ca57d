"""Segmentation metrics, in the paper's conventions and the standard ones (each says which).

* ``iou_per_image``: ISIC's score. IoU of each image, then the mean over images. An image whose ground
  truth and prediction are both empty scores 0 (the original's intersection / (union + 1e-7)).
* ``dataset_iou``: binary IoU over all pixels of a set (Keras' ``BinaryIoU``, the original's ISIC
  checkpoint monitor); used to pick the best epoch, not reported (the paper reports ``iou_per_image``).
* ``dice_per_image``: the original's ``dice_score_numpy_binary``, smooth = 1.
* ``miou_per_image``: SUIM's score. Per image, the mean IoU over the classes *present in its ground
  truth*; then the mean over images.
* ``confusion_matrix`` + ``miou_from_confusion``: the standard dataset-level mIoU with an ignore
  index (Cityscapes, Study A).
* ``cell_count_errors`` / MCCE: HeLa's mean cell count error (lower is better), see ``count_cells``.
  HeLa's predicted position channel is redrawn (``mod_pos_size``) before both its IoU and MCCE.
"""
from __future__ import annotations

import numpy as np
import torch

from imlib.cell_positions import mod_pos_size, position_centroids
from imlib.data.task import Task

EPS = 1e-7
DICE_SMOOTH = 1.0  # the original's dice_score_numpy_binary(gt, pred, smooth=1)


def _check_pair(pred: torch.Tensor, gt: torch.Tensor, ndim: int = 3) -> None:
    if pred.shape != gt.shape or pred.ndim != ndim:
        raise ValueError(f"prediction {tuple(pred.shape)} and ground truth {tuple(gt.shape)} must both be (B, H, W)")


def iou_per_image(pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """Binary IoU per image; ``pred`` and ``gt`` are (B, H, W), non-zero = foreground."""
    _check_pair(pred, gt)
    p, g = pred.bool().flatten(1), gt.bool().flatten(1)
    inter = (p & g).sum(1).double()
    union = (p | g).sum(1).double()
    return inter / (union + EPS)


def dice_per_image(pred: torch.Tensor, gt: torch.Tensor, smooth: float = DICE_SMOOTH) -> torch.Tensor:
    """Binary Dice per image as the original's ``dice_score_numpy_binary``:
    ``(2 |P & G| + smooth) / (|P| + |G| + smooth)`` with smooth = 1, so an image whose ground truth and
    prediction are both empty scores 1 (unlike its IoU, which scores 0 there)."""
    _check_pair(pred, gt)
    p, g = pred.bool().flatten(1), gt.bool().flatten(1)
    inter = (p & g).sum(1).double()
    return (2 * inter + smooth) / (p.sum(1) + g.sum(1) + smooth).double()


def dataset_iou(pred: torch.Tensor, gt: torch.Tensor, valid: torch.Tensor | None = None) -> float:
    """Binary IoU of a whole set: intersection and union summed over every pixel of every image, as
    Keras' ``BinaryIoU(target_class_ids=[1], threshold=0.5)`` accumulates them over the validation set
    (the original's ISIC checkpoint monitor, ``val_binary_io_u``). 0 when the set has no foreground in
    either. ``valid`` (same shape, optional) keeps only those pixels. For choosing the best epoch only:
    the reported ISIC score is the per-image mean (``iou_per_image``)."""
    _check_pair(pred, gt)
    p, g = pred.bool(), gt.bool()
    if valid is not None:
        if valid.shape != gt.shape:
            raise ValueError(f"valid {tuple(valid.shape)} must have the shape of the ground truth {tuple(gt.shape)}")
        p, g = p & valid.bool(), g & valid.bool()
    inter, union = int((p & g).sum()), int((p | g).sum())
    return inter / union if union else 0.0


def miou_per_image(pred: torch.Tensor, gt: torch.Tensor, num_classes: int, ignore_index: int = 255) -> torch.Tensor:
    """Per image: mean IoU over the classes present in the ground truth (ignored pixels excluded)."""
    _check_pair(pred, gt)
    b = gt.shape[0]
    g, p = gt.long().flatten(1), pred.long().flatten(1)
    valid = g != ignore_index
    if (g[valid] >= num_classes).any() or (g[valid] < 0).any():
        raise ValueError(f"ground-truth class ids must lie in [0, {num_classes}) or be {ignore_index}")
    p = p.clamp(0, num_classes - 1)
    offs = torch.arange(b, device=g.device)[:, None] * num_classes
    count = lambda idx: torch.bincount((idx + offs)[valid], minlength=b * num_classes).view(b, num_classes)  # noqa: E731
    same = (p == g) & valid
    inter = torch.bincount((g + offs)[same], minlength=b * num_classes).view(b, num_classes).double()
    area_g, area_p = count(g).double(), count(p).double()
    union = area_g + area_p - inter
    present = area_g > 0
    iou = torch.where(present, inter / (union + EPS), torch.zeros_like(inter))
    return iou.sum(1) / present.sum(1).clamp_min(1)


def pixel_accuracy(pred: torch.Tensor, gt: torch.Tensor, ignore_index: int = 255) -> torch.Tensor:
    _check_pair(pred, gt)
    valid = gt != ignore_index
    return ((pred == gt) & valid).flatten(1).sum(1).double() / valid.flatten(1).sum(1).clamp_min(1)


def confusion_matrix(pred: torch.Tensor, gt: torch.Tensor, num_classes: int, ignore_index: int = 255) -> torch.Tensor:
    """(num_classes, num_classes) counts, rows = ground truth, columns = prediction."""
    if pred.shape != gt.shape:
        raise ValueError(f"prediction {tuple(pred.shape)} and ground truth {tuple(gt.shape)} differ in shape")
    g, p = gt.long().flatten(), pred.long().flatten()
    valid = g != ignore_index
    g, p = g[valid], p[valid]
    if len(g) and (g.max() >= num_classes or g.min() < 0):
        raise ValueError(f"ground-truth class ids must lie in [0, {num_classes}) or be {ignore_index}")
    p = p.clamp(0, num_classes - 1)
    return torch.bincount(g * num_classes + p, minlength=num_classes**2).view(num_classes, num_classes).cpu()


def miou_from_confusion(cm: torch.Tensor) -> float:
    """Standard mIoU: per-class IoU from the summed confusion matrix, mean over classes that occur
    (in ground truth or prediction)."""
    cm = cm.double()
    inter = cm.diag()
    union = cm.sum(0) + cm.sum(1) - inter
    seen = union > 0
    return float((inter[seen] / union[seen]).mean()) if seen.any() else 0.0


# ---------------------------------------------------------------- HeLa: cell counting (MCCE)

def count_cells(position: np.ndarray, alive: np.ndarray, dead: np.ndarray, half: int = 3) -> tuple[int, int]:
    """(alive, dead) counts: each position is classified by the larger of the alive and dead areas in
    a 2*half window around it (moved inward at the border, as the original); ties count for neither."""
    h, w = position.shape
    n_alive = n_dead = 0
    for y, x in position_centroids(position):  # 3 x 3 erosion, then centroids, as get_pos_contours
        y = y + half if y - half < 0 else (h - half if y + half > h else y)
        x = x + half if x - half <= 0 else (w - half if x + half > w else x)
        a = int(alive[y - half:y + half, x - half:x + half].astype(bool).sum())
        d = int(dead[y - half:y + half, x - half:x + half].astype(bool).sum())
        n_alive += a > d
        n_dead += d > a
    return n_alive, n_dead


def cell_count_errors(pred: torch.Tensor, gt: torch.Tensor, task: Task, redraw_pred: bool = True) -> np.ndarray:
    """Per-image abs(alive error) + abs(dead error) for multi-label labels (B, C, H, W) in {0, 1}.

    The predicted position channel is redrawn first (``redraw_pred``: the original's ``mod_pos_size``,
    eroded centroids -> discs -> 2 x 2 blur and re-threshold), then positions are taken from it as from
    the ground truth (3 x 3 erosion, centroids), as ``benchmark_hela`` does. The mean over images is the
    MCCE.
    """
    if pred.shape != gt.shape or pred.ndim != 4:
        raise ValueError(f"prediction {tuple(pred.shape)} and ground truth {tuple(gt.shape)} must both be (B, C, H, W)")
    if None in (task.position_channel, task.alive_channel, task.dead_channel):
        raise ValueError("MCCE needs a multi-label task with position, alive and dead channels")
    pc, ac, dc = task.position_channel, task.alive_channel, task.dead_channel
    pred, gt = pred.cpu().numpy() == 1, gt.cpu().numpy() == 1
    errors = []
    for p, g in zip(pred, gt):
        pos = mod_pos_size(p[pc]) if redraw_pred else p[pc]
        pa, pd = count_cells(pos, p[ac], p[dc])
        ga, gd = count_cells(g[pc], g[ac], g[dc])
        errors.append(abs(pa - ga) + abs(pd - gd))
    return np.asarray(errors, dtype=np.float64)


# ---------------------------------------------------------------- one entry point per task

def score(pred: torch.Tensor, gt: torch.Tensor, task: Task) -> dict[str, float]:
    """All metrics of a task for predicted vs true labels in the stored layout (B, L, H, W).

    The headline metric is under ``task.metric``; values are means over images except ``miou_cm``.
    """
    if pred.shape != gt.shape:
        raise ValueError(f"predicted labels {tuple(pred.shape)} and ground truth {tuple(gt.shape)} differ in shape")
    if task.kind == "binary":
        p, g = pred[:, 0] == 1, gt[:, 0] == 1
        return {"iou": float(iou_per_image(p, g).mean()), "dice": float(dice_per_image(p, g).mean())}
    if task.kind == "multiclass":
        p, g = pred[:, 0], gt[:, 0]
        return {
            "miou": float(miou_per_image(p, g, task.num_outputs, task.ignore_index).mean()),
            "miou_cm": miou_from_confusion(confusion_matrix(p, g, task.num_outputs, task.ignore_index)),
            "pixel_acc": float(pixel_accuracy(p, g, task.ignore_index).mean()),
            "im_class_share": im_class_share(p, g, task),
        }
    pred = redraw_predicted_positions(pred, task)
    ious = torch.stack([iou_per_image(pred[:, c] == 1, gt[:, c] == 1) for c in range(task.num_outputs)], 1)
    out = {"miou": float(ious.mean())}
    if task.position_channel is not None and task.alive_channel is not None and task.dead_channel is not None:
        out["miou_ad"] = float(ious[:, [task.alive_channel, task.dead_channel]].mean())
        out["mcce"] = float(cell_count_errors(pred, gt, task, redraw_pred=False).mean())
    return out


def im_class_share(pred: torch.Tensor, gt: torch.Tensor, task: Task) -> float:
    """The share of scored (not ignored) pixels predicted as the IM class: always an error (no pixel of a
    ground truth is the IM class), made only by models that learned it from inconsistency masks; 0 where the
    task excludes the IM class from the argmax (``Task.predict_im_class``)."""
    valid = gt != task.ignore_index
    return float(((pred == task.im_class) & valid).sum()) / max(int(valid.sum()), 1)


def redraw_predicted_positions(pred: torch.Tensor, task: Task) -> torch.Tensor:
    """Multi-label predictions (B, C, H, W) with the position channel (if the task has one) redrawn by the
    original's ``mod_pos_size``, as ``benchmark_hela`` does before scoring: "the predicted position channel
    is re-drawn as discs", and both its IoU and MCCE see the discs, not the raw prediction."""
    if task.kind != "multilabel" or task.position_channel is None:
        return pred
    pc = task.position_channel
    drawn = np.stack([mod_pos_size(m) for m in (pred[:, pc] == 1).cpu().numpy()]) if len(pred) else None
    out = pred.clone()
    if drawn is not None:
        out[:, pc] = torch.from_numpy(drawn).to(device=pred.device, dtype=pred.dtype)
    return out
