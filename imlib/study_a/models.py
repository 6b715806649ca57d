"""The Study A segmenter: DeepLabV3+ from segmentation-models-pytorch, plus the heads some hosts add.

``build_segmenter`` is the one factory: ``smp.DeepLabV3Plus(encoder, encoder_weights=None, ...)`` with the
host's output stride and ASPP rates, non-separable ASPP convolutions and no ASPP dropout (the hosts' ASPP), and
optionally U2PL/iMAS's auxiliary head on layer3 and U2PL's representation head on the decoder output.

What still differs from the hosts' own DeepLabV3+ (study_a.md §3): smp uses separable 3x3 convolutions after
the ASPP and in its fuse block, adds a 3x3 convolution after the ASPP, fuses with one convolution instead of
two, upsamples by 4 in its head, and has no multi-grid dilation in layer4 (U2PL); the low-level projection is
48 channels (U2PL: 256). Encoders: ``resnet18`` (the smoke scale), ``resnet50`` (torchvision's layout, what
torchvision's ImageNet file loads into) and ``resnet50-deepstem``, a ResNet-50 with the hosts' deep stem (three
3x3 convolutions of 64, 64, 128 channels; the max-pool without U2PL/iMAS's ceil mode, which at their odd
crops (769) gives the same sizes and at crops divisible by the stride would not) whose state-dict keys are those of the hosts'
``resnet50.pth``, so that their ImageNet weights load (:mod:`imlib.study_a.weights`).
"""
from __future__ import annotations

import types
from collections.abc import Callable
from typing import NamedTuple

import segmentation_models_pytorch as smp
import torch
import torch.nn.functional as F
from torch import nn

ENCODERS = ("resnet18", "resnet50", "resnet50-deepstem")


class SegOutput(NamedTuple):
    logits: torch.Tensor  # (B, C, H, W) at the input size
    aux: torch.Tensor | None  # auxiliary head's logits at the input size (U2PL, iMAS)
    rep: torch.Tensor | None  # U2PL's representation (B, rep_dim, H / 4, W / 4)


def _conv_bn(c_in: int, c_out: int, stride: int = 1) -> tuple[nn.Conv2d, nn.BatchNorm2d]:
    return nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out)


def _deep_stem_forward(self, x: torch.Tensor) -> list[torch.Tensor]:
    features = [x]
    x = self.relu(self.bn1(self.conv1(x)))
    x = self.relu(self.bn2(self.conv2(x)))
    x = self.relu(self.bn3(self.conv3(x)))
    features.append(x)
    x = self.layer1(self.maxpool(x))
    features.append(x)
    for layer in (self.layer2, self.layer3, self.layer4):
        x = layer(x)
        features.append(x)
    return features


def _make_deep_stem(encoder: nn.Module) -> None:
    """Turn smp's (torchvision) ResNet-50 encoder into the hosts' deep-stem ResNet-50, in place: the keys become
    conv1/bn1/conv2/bn2/conv3/bn3 and layer1 takes 128 channels, as in UniMatch's and iMAS's resnet.py."""
    from torchvision.models.resnet import Bottleneck

    encoder.conv1, encoder.bn1 = _conv_bn(3, 64, stride=2)
    encoder.conv2, encoder.bn2 = _conv_bn(64, 64)
    encoder.conv3, encoder.bn3 = _conv_bn(64, 128)
    encoder.maxpool = nn.MaxPool2d(3, 2, 1)  # U2PL/iMAS: ceil_mode, same size at their odd crops, wrong at ours
    encoder.inplanes = 128
    encoder.layer1 = encoder._make_layer(Bottleneck, 64, 3)
    encoder.forward = types.MethodType(_deep_stem_forward, encoder)
    encoder._out_channels = [3, 128] + list(encoder._out_channels[2:])


class StudyANet(nn.Module):
    """DeepLabV3+ whose every use goes through ``forward`` (DistributedDataParallel syncs only that)."""

    def __init__(self, model: smp.DeepLabV3Plus, output_stride: int, num_classes: int, aux_head: bool,
                 rep_dim: int | None):
        super().__init__()
        self.model, self.output_stride = model, output_stride
        channels = model.encoder.out_channels
        self.aux = nn.Sequential(nn.Conv2d(channels[-2], 256, 3, padding=1, bias=False), nn.BatchNorm2d(256),
                                 nn.ReLU(inplace=True), nn.Dropout2d(0.1), nn.Conv2d(256, num_classes, 1)) \
            if aux_head else None
        dec = model.segmentation_head[0].in_channels
        self.rep = nn.Sequential(nn.Conv2d(dec, 256, 3, padding=1, bias=False), nn.BatchNorm2d(256),
                                 nn.ReLU(inplace=True), nn.Dropout2d(0.1), nn.Conv2d(256, rep_dim, 1)) \
            if rep_dim else None
        # smp's DeepLabV3+ decoder reads the stride-4 features (index 2) and the last ones
        self.perturbed_features = (2, len(channels) - 1)

    def forward(self, x: torch.Tensor, extras: bool = False,
                perturb: Callable[[list[torch.Tensor]], list[torch.Tensor]] | None = None):
        h, w = x.shape[-2:]
        if h % self.output_stride or w % self.output_stride:
            raise ValueError(f"input {h}x{w} is not divisible by the output stride {self.output_stride}: crops and "
                             f"evaluation windows must be multiples of it (801 -> 800, 769 -> 768)")
        feats = self.model.encoder(x)
        if perturb is not None:
            feats = perturb(feats)
        dec = self.model.decoder(feats)
        logits = self.model.segmentation_head(dec)
        if not extras:
            return logits
        aux = F.interpolate(self.aux(feats[-2]), size=(h, w), mode="bilinear", align_corners=False) \
            if self.aux is not None else None
        return SegOutput(logits, aux, self.rep(dec) if self.rep is not None else None)

    def param_groups(self, lr: float, head_lr_multiplier: float, weight_decay: float) -> list[dict]:
        """The backbone at ``lr``, the decoder and heads at ``lr x head_lr_multiplier`` (the hosts' groups)."""
        backbone = list(self.model.encoder.parameters())
        ids = {id(p) for p in backbone}
        head = [p for p in self.parameters() if id(p) not in ids]
        return [{"params": backbone, "lr": lr, "weight_decay": weight_decay},
                {"params": head, "lr": lr * head_lr_multiplier, "weight_decay": weight_decay}]


def build_segmenter(encoder: str = "resnet50", num_classes: int = 19, output_stride: int = 16,
                    atrous_rates: tuple[int, int, int] = (6, 12, 18), aux_head: bool = False,
                    rep_dim: int | None = None) -> StudyANet:
    """The host's DeepLabV3+ (random weights: pretrained ones only from a local file, see weights.py)."""
    if encoder not in ENCODERS:
        raise ValueError(f"Study A encoder must be one of {ENCODERS}, got {encoder!r}")
    smp_name = "resnet50" if encoder == "resnet50-deepstem" else encoder
    model = smp.DeepLabV3Plus(smp_name, encoder_weights=None, encoder_output_stride=output_stride,
                              decoder_atrous_rates=tuple(atrous_rates), decoder_aspp_separable=False,
                              decoder_aspp_dropout=0.0, classes=num_classes)
    if encoder == "resnet50-deepstem":
        _make_deep_stem(model.encoder)
    return StudyANet(model, output_stride, num_classes, aux_head, rep_dim)


def count_parameters(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())
