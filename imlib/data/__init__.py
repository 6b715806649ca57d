"""Datasets: a task description, image/label tensors kept on the training device, the splits."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from imlib.data.task import AugmentConfig, Task


@dataclass
class SegData:
    """Images (N, C, H, W) uint8 and labels (N, L, H, W) uint8, on one device."""

    images: torch.Tensor
    labels: torch.Tensor

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.labels.dtype != torch.uint8:
            raise ValueError(f"images and labels must be uint8, got {self.images.dtype} and {self.labels.dtype}")
        if self.images.ndim != 4 or self.labels.ndim != 4:
            raise ValueError(f"images and labels must be (N, C, H, W), got {tuple(self.images.shape)} "
                             f"and {tuple(self.labels.shape)}")
        if self.images.shape[0] != self.labels.shape[0] or self.images.shape[-2:] != self.labels.shape[-2:]:
            raise ValueError(f"{tuple(self.images.shape)} images do not match {tuple(self.labels.shape)} labels")

    def __len__(self) -> int:
        return self.images.shape[0]

    def subset(self, idx: torch.Tensor) -> SegData:
        idx = idx.to(self.images.device)
        return SegData(self.images[idx], self.labels[idx])

    def to(self, device: torch.device | str) -> SegData:
        return SegData(self.images.to(device), self.labels.to(device))

    @staticmethod
    def cat(parts: list[SegData]) -> SegData:
        return SegData(torch.cat([p.images for p in parts]), torch.cat([p.labels for p in parts]))


@dataclass
class Dataset:
    """A prepared dataset: the full training set (every image has its true label; methods see only
    ``labeled_idx``'s labels), validation and test sets, and where it came from."""

    name: str
    task: Task
    train: SegData
    labeled_idx: torch.Tensor
    unlabeled_idx: torch.Tensor
    val: SegData
    test: SegData
    default_alpha: float
    synthetic: bool
    stands_in_for: str | None
    provenance: dict[str, Any] = field(default_factory=dict)

    @property
    def labeled(self) -> SegData:
        return self.train.subset(self.labeled_idx)

    @property
    def unlabeled(self) -> SegData:
        """Unlabeled images *with* their hidden true labels; methods must only read ``.images``
        (the labels serve diagnostics such as pseudo-label accuracy)."""
        return self.train.subset(self.unlabeled_idx)

    def sizes(self) -> dict[str, int]:
        return {"labeled": len(self.labeled_idx), "unlabeled": len(self.unlabeled_idx),
                "val": len(self.val), "test": len(self.test)}


__all__ = ["AugmentConfig", "Dataset", "SegData", "Task"]
