"""A host's official training recipe (from its Cityscapes configs): the numbers a faithful run needs, in one place.

Each host module declares its ``RECIPE``; the ``paper`` preset uses it as is, ``smoke`` shrinks the sizes
(see :mod:`imlib.study_a.config`). Values and their sources are printed in the book's Study A page.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class HostRecipe:
    """One host's official Cityscapes training settings (each field says what it sets)."""

    lr: float  #: base LR for ``total_batch`` labeled images per step (scaled linearly otherwise)
    weight_decay: float  #: the optimiser's weight decay
    head_lr_multiplier: float  #: LR of the decoder/heads relative to the backbone
    total_batch: int  #: labeled images per step over all GPUs in the official run (e.g. 2 x 4 GPUs = 8)
    crop: int  #: training crop; divisible by the output stride (801 -> 800, 769 -> 768)
    epochs: int  #: passes over the unlabeled list (over the labeled list for Supervised)
    ohem_min_kept: int  #: OHEM's minimum of pixels kept per GPU batch (threshold 0.7)
    output_stride: int  #: 8 or 16 for DeepLabV3+, the patch size 14 for DINOv2 (inputs must be multiples of it)
    atrous_rates: tuple[int, int, int] | None  #: DeepLabV3+'s ASPP; None for the DPT head
    eval_window: int  #: window of the sliding-window evaluation (divisible by the output stride)
    eval_stride: int  #: stride of the sliding-window evaluation
    gpus: int = 4  #: GPUs of the official run (total_batch / gpus labeled images per GPU)
    ema: float | None = None  #: EMA teacher momentum (None without a teacher)
    ema_buffers: bool = True  #: the EMA also averages BatchNorm statistics (U2PL averages parameters only)
    optimizer: str = "sgd"  #: "sgd" (momentum 0.9, the CNN hosts) or "adamw" (betas 0.9/0.999, UniMatch V2)
    encoder: str = "resnet50"  #: the backbone of the paper's table (imlib.study_a.models.build_segmenter)
    source: str = ""  #: official files the values come from
