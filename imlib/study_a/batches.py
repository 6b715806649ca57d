"""What a Study A training step sees: labeled and unlabeled batches on the device, and the normalisation.

Images stay uint8 (0..255) until the model's input: the hosts' strong views (colour jitter, blur, CutMix)
work on uint8 batches on the device (:mod:`imlib.semi.views`), and the IM blackout is a uint8 0, as the
legacy IM code (and the hosts' ``Normalize`` after PIL) has it.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import torch

IGNORE = 255  # label value never counted by a loss or the metric (void, crop padding, IM pixels)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def normalize(images: torch.Tensor) -> torch.Tensor:
    """uint8 (B, 3, H, W) -> float, ImageNet mean/std (as the hosts' ``transforms.Normalize``)."""
    x = images.float() / 255.0
    mean = x.new_tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = x.new_tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (x - mean) / std


@dataclass
class LabeledBatch:
    """A labeled (or GT ∪ IM pseudo-labeled) batch as every host's step receives it."""

    image: torch.Tensor  #: (B, 3, H, W) uint8: geometrically augmented (rescale, crop, flip)
    label: torch.Tensor  #: (B, H, W) int64: train ids, ``IGNORE`` where void, padded or inside an IM

    def to(self, device) -> LabeledBatch:
        return LabeledBatch(*(getattr(self, f.name).to(device, non_blocking=True) for f in fields(self)))


@dataclass
class UnlabeledBatch:
    """An unlabeled batch: images only, plus the pixels no unsupervised loss may use."""

    image: torch.Tensor  #: (B, 3, H, W) uint8: geometrically augmented
    ignore: torch.Tensor  #: (B, H, W) bool: crop padding, never part of a loss
    im_mask: torch.Tensor  #: (B, H, W) bool: the offline inconsistency mask (variant M), all False otherwise

    def to(self, device) -> UnlabeledBatch:
        return UnlabeledBatch(*(getattr(self, f.name).to(device, non_blocking=True) for f in fields(self)))

    @property
    def excluded(self) -> torch.Tensor:
        """Pixels no unsupervised loss may use: the padding and (variant M) the inconsistency mask."""
        return self.ignore | self.im_mask
