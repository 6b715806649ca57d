"""What a segmentation task is: its kind, channels, classes, metric and augmentation strength.

Labels are stored in one layout for every kind so that geometry and masking code is shared:
uint8 tensors of shape (N, L, H, W) where L = 1 for binary (0/1) and multi-class (class ids), and
L = number of channels for multi-label (0/1 per channel). ``ignore_index`` (255) marks pixels that no
loss or metric looks at.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["binary", "multiclass", "multilabel"]
KINDS = ("binary", "multiclass", "multilabel")


@dataclass(frozen=True)
class AugmentConfig:
    """The paper's offline augmentation (the ALDT/AFDT copies), per dataset, with the ranges the authors'
    augmentation scripts pass for that dataset."""

    free_rotation: bool = True  # vertical flip + rot90 allowed (ISIC, HeLa); SUIM/Cityscapes: h-flip only
    contrast: tuple[float, float] = (0.5, 1.5)  # alpha of convertScaleAbs, applied with probability 0.5
    brightness: float = 25.0  # beta range +-
    blur_kernels: tuple[int, ...] = (0, 3, 5, 7)  # 0 = no blur, chosen uniformly
    noise: int = 25  # uniform integer noise +-


@dataclass(frozen=True)
class PaperDataset:
    """What the paper uses for one of its datasets: the U-Net width and the offline augmentation."""

    alpha: float
    augment: AugmentConfig


# The paper's datasets by their official key (the default ``--name`` of ``imlib prepare <key>``), from the
# authors' original code: ALPHA of config.ini; the ranges each ``04_*_subset_aug.py`` passes to
# create_augment_images_and_masks_* (max_blur 3 -> kernels 3/5/7, max_blur 1 -> 3).
PAPER_DATASETS: dict[str, PaperDataset] = {
    "isic2018": PaperDataset(0.5, AugmentConfig()),  # (0.5, 1.5), +-25, blur <= 3, noise 25, free rotation
    "hela": PaperDataset(1.0, AugmentConfig(contrast=(0.7, 1.3), brightness=15.0)),
    "suim": PaperDataset(1.0, AugmentConfig(free_rotation=False)),
    "cityscapes": PaperDataset(1.0, AugmentConfig(free_rotation=False, contrast=(0.6, 1.4), brightness=15.0,
                                                  blur_kernels=(0, 3), noise=15)),
}


@dataclass(frozen=True)
class Task:
    """A segmentation task: ``kind`` (binary, multiclass, multilabel), ``in_channels``, ``num_outputs`` and
    ``class_names``, plus the kind's special channels or classes; every loss, metric and IM rule reads these."""

    kind: Kind
    in_channels: int
    num_outputs: int
    class_names: tuple[str, ...]
    ignore_index: int = 255
    im_class: int = 0  # multi-class: the class reserved for IM pixels (the paper's class 0)
    # multi-class: whether a model's predictions may be the IM class (the paper's inference: every output in the
    # argmax, an IM-class prediction counts as an error) or only a real class (RunConfig.inference)
    predict_im_class: bool = True
    position_channel: int | None = None  # multi-label: the cell-position channel (redrawn as discs)
    alive_channel: int | None = None
    dead_channel: int | None = None
    position_weight: float = 3.0  # the paper scales the position target to {0, 3} in the MSE
    augment: AugmentConfig = field(default_factory=AugmentConfig)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"task kind must be one of {KINDS}, got {self.kind!r}")
        if self.kind == "binary" and self.num_outputs != 1:
            raise ValueError(f"a binary task has exactly 1 output channel, got {self.num_outputs}")
        if len(self.class_names) != self.num_outputs:
            raise ValueError(f"{self.num_outputs} outputs but {len(self.class_names)} class names")

    @property
    def label_channels(self) -> int:
        return self.num_outputs if self.kind == "multilabel" else 1

    @property
    def metric(self) -> str:
        """The headline metric of the paper for this kind of task."""
        if self.kind == "multilabel" and None in (self.position_channel, self.alive_channel, self.dead_channel):
            return "miou"  # a multi-label task without HeLa's alive/dead/position channels has no cell count
        return {"binary": "iou", "multiclass": "miou", "multilabel": "mcce"}[self.kind]

    @property
    def higher_is_better(self) -> bool:
        return self.metric != "mcce"
