"""Model factory. Study B: the paper's lightweight U-Net (``LightUNet``)."""
from __future__ import annotations

from torch import nn

from imlib.data.task import Task
from imlib.models.unet import KERAS_BN_MOMENTUM, LightUNet, count_parameters


def build_model(task: Task, alpha: float, bn_momentum: float = KERAS_BN_MOMENTUM) -> nn.Module:
    """The paper's 1x1 U-Net sized for a task (input channels, one output per class/channel)."""
    return LightUNet(task.in_channels, task.num_outputs, alpha=alpha, bn_momentum=bn_momentum)


__all__ = ["LightUNet", "build_model", "count_parameters"]
