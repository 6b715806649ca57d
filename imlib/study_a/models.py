"""The Study A segmenter: smp's DeepLabV3+ with the heads and hooks the hosts need, built by one factory.

Why smp: one well-tested DeepLabV3+ shared by all hosts, so a host differs from another only in its
training recipe. Encoders:

- ``"resnet18"``: smoke scale on the CPU.
- ``"resnet50"`` (default): smp's ResNet-50 = torchvision's layout (one 7x7 stem conv, 64 channels); loads
  torchvision's ImageNet file (:func:`imlib.study_a.weights.load_backbone`, layout ``"torchvision"``).
- ``"resnet50-deepstem"`` (and ``"resnet101-deepstem"``): the hosts' ResNet (UniMatch, U2PL, iMAS
  ``resnet.py``): a deep stem of three 3x3 convs (64, 64, 128 channels, so layer1 takes 128 inputs), stored
  as the hosts store it, ``conv1 = Sequential(conv, BN, ReLU, conv, BN, ReLU, conv)`` plus ``bn1`` (128), so
  the encoder's state-dict keys are the hosts' ``resnet50.pth`` keys (``conv1.0.weight``, ``conv1.1.*``,
  ``conv1.3.weight``, ``conv1.4.*``, ``conv1.6.weight``, ``bn1.*``, ``layer1.0.conv1.weight`` ...; files with
  a flat stem, ``conv1, bn1, conv2, bn2, conv3, bn3``, are mapped onto it by the loader). Its
  dilation follows the hosts (and torchvision): the first block of a dilated stage keeps the previous
  dilation, the others get the new one (smp dilates every block of the stage).

What still differs from the hosts' own DeepLabV3+, so results are
"DeepLabV3+-like", not the hosts' exact network:

- smp's decoder uses depthwise-separable 3x3 convs after the ASPP and in the fuse block (the ASPP branches
  themselves are plain convs here: ``decoder_aspp_separable=False``), adds one 3x3 conv after the ASPP
  projection, and fuses with ONE 3x3 conv (hosts: two plain 3x3 convs; U2PL: a 256-ch low-level path and
  Dropout2d(0.1) in its head); the 1x1 classifier runs at stride 4 and is upsampled x4 (bilinear,
  align_corners=True) by smp's head.
- no multi-grid (U2PL/iMAS os8 use 2/2/4 in layer4); U2PL/iMAS max-pool with ``ceil_mode=True``, which
  yields H/4 + 1 maps for crops that are multiples of 16 and breaks smp's fixed x4/x2 decoder upsampling,
  so the max-pool here uses the floor (as UniMatch does). Neither changes the weight layout.
- smp's ResNet-50 is not the hosts' deep-stem ResNet: the hosts' ImageNet files load only into
  ``"resnet50-deepstem"``; torchvision weights give lower numbers (UniMatch issue #38).
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import segmentation_models_pytorch as smp
import torch.nn.functional as F
from segmentation_models_pytorch.encoders.resnet import ResNetEncoder
from torch import Tensor, nn
from torchvision.models.resnet import Bottleneck

ENCODERS = ("resnet18", "resnet34", "resnet50", "resnet101", "resnet50-deepstem", "resnet101-deepstem")
_DEEPSTEM_LAYERS = {"resnet50-deepstem": [3, 4, 6, 3], "resnet101-deepstem": [3, 4, 23, 3]}

Perturb = Callable[[list[Tensor]], list[Tensor]]


class SegOutput(NamedTuple):
    """One forward pass of :class:`StudyANet` (B' >= B when a perturbation grew the batch): what any host's
    loss may need, so all hosts share one network."""

    logits: Tensor  #: (B', C, H, W): class logits at the input size
    aux: Tensor | None  #: (B', C, H, W) or None: aux-head logits at the input size, None without an aux head
    rep: Tensor | None  #: (B', rep_dim, H/4, W/4) or None: representation for U2PL's contrastive loss


def _init_conv(module: nn.Module) -> None:
    """The hosts' (and torchvision's) init: Kaiming fan-out for convs, BN weight 1 / bias 0."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


class DeepStemResNetEncoder(ResNetEncoder):
    """smp's ResNet encoder with the hosts' deep stem and the hosts' dilation rule (keys = hosts' file)."""

    def __init__(self, layers: list[int], output_stride: int = 16):
        super().__init__(out_channels=[3, 128, 256, 512, 1024, 2048], depth=5, output_stride=32,
                         block=Bottleneck, layers=layers)
        self.conv1 = nn.Sequential(
            nn.Conv2d(3, 64, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(64), nn.ReLU(inplace=True),
            nn.Conv2d(64, 64, 3, padding=1, bias=False), nn.BatchNorm2d(64), nn.ReLU(inplace=True),
            nn.Conv2d(64, 128, 3, padding=1, bias=False),
        )
        self.bn1 = nn.BatchNorm2d(128)
        first = self.layer1[0]  # the only block that sees the stem's width
        first.conv1 = nn.Conv2d(128, 64, 1, bias=False)
        first.downsample[0] = nn.Conv2d(128, 256, 1, bias=False)
        for m in (self.conv1, self.bn1, first.conv1, first.downsample[0]):
            _init_conv(m)
        if output_stride != 32:
            self.make_dilated(output_stride)

    def make_dilated(self, output_stride: int) -> None:
        super().make_dilated(output_stride)  # validates; every 3x3 conv of a dilated stage gets its rate
        self._output_stride = output_stride
        previous = 1
        for stage_stride, layer in ((16, self.layer3), (32, self.layer4)):
            if stage_stride <= output_stride:
                continue
            conv = layer[0].conv2  # hosts: the first block keeps the previous stage's dilation
            conv.dilation, conv.padding = (previous, previous), (previous, previous)
            previous = stage_stride // output_stride


def _head(in_channels: int, out_channels: int) -> nn.Sequential:
    """conv3x3 -> 256, BN, ReLU, Dropout2d(0.1), conv1x1 (U2PL's aux and representation heads)."""
    head = nn.Sequential(
        nn.Conv2d(in_channels, 256, 3, padding=1, bias=False), nn.BatchNorm2d(256), nn.ReLU(inplace=True),
        nn.Dropout2d(0.1), nn.Conv2d(256, out_channels, 1),
    )
    _init_conv(head)
    return head


class StudyANet(nn.Module):
    """smp DeepLabV3+ plus optional aux / representation heads; every host computation goes through
    :meth:`forward`, because DistributedDataParallel only syncs gradients of work done there."""

    def __init__(self, smp_model: smp.DeepLabV3Plus, encoder_name: str, num_classes: int, output_stride: int,
                 aux_head: bool = False, rep_dim: int | None = None):
        super().__init__()
        self.model = smp_model
        self.encoder_name = encoder_name
        self.num_classes = num_classes
        self.output_stride = output_stride
        channels = self.model.encoder.out_channels
        self.aux = _head(channels[-2], num_classes) if aux_head else None
        self.rep = _head(self.model.segmentation_head[0].in_channels, rep_dim) if rep_dim else None
        # smp's DeepLabV3+ decoder reads the stride-4 features and the last ones (decoder.forward)
        self.perturbed_features: tuple[int, ...] = (2, len(channels) - 1)

    @property
    def encoder(self) -> nn.Module:
        return self.model.encoder

    def check_size(self, height: int, width: int) -> None:
        s = self.output_stride
        if height % s or width % s:
            raise ValueError(
                f"input size {height}x{width} is not divisible by the output stride {s}: training crops and "
                f"evaluation windows must be multiples of {s} (e.g. 801 -> 800, 769 -> 768)")

    def forward(self, x: Tensor, extras: bool = False, perturb: Perturb | None = None) -> Tensor | SegOutput:
        """Logits (B', C, H, W) at the input size, or ``SegOutput`` with ``extras``.

        ``perturb`` maps the encoder feature list to a new one before decoding (UniMatch's feature dropout);
        it may grow the batch (clean and perturbed copies concatenated), so B' >= B. Every entry the heads
        read (``perturbed_features``, and features[-2] for the aux head) must share that batch size.
        """
        h, w = x.shape[-2:]
        self.check_size(h, w)
        features = self.model.encoder(x)
        if perturb is not None:
            features = list(perturb(list(features)))
        decoded = self.model.decoder(features)
        logits = self._resize(self.model.segmentation_head(decoded), h, w)
        if not extras:
            return logits
        aux = self._resize(self.aux(features[-2]), h, w) if self.aux is not None else None
        rep = self.rep(decoded) if self.rep is not None else None
        return SegOutput(logits, aux, rep)

    @staticmethod
    def _resize(t: Tensor, h: int, w: int) -> Tensor:
        if t.shape[-2:] == (h, w):
            return t
        return F.interpolate(t, size=(h, w), mode="bilinear", align_corners=True)

    def param_groups(self, lr: float, head_lr_multiplier: float, weight_decay: float) -> list[dict]:
        """Encoder at ``lr``, decoder and heads at ``lr * head_lr_multiplier`` (the hosts' two groups).
        ``lr_multiplier`` is kept in each group so a poly schedule can rescale the base LR."""
        encoder_ids = {id(p) for p in self.model.encoder.parameters()}
        encoder = [p for p in self.parameters() if id(p) in encoder_ids]
        rest = [p for p in self.parameters() if id(p) not in encoder_ids]
        return [
            {"params": encoder, "lr": lr, "weight_decay": weight_decay, "lr_multiplier": 1.0, "name": "encoder"},
            {"params": rest, "lr": lr * head_lr_multiplier, "weight_decay": weight_decay,
             "lr_multiplier": head_lr_multiplier, "name": "head"},
        ]


def build_segmenter(encoder: str = "resnet50", num_classes: int = 19, output_stride: int = 16,
                    atrous_rates: tuple[int, int, int] = (6, 12, 18), aux_head: bool = False,
                    rep_dim: int | None = None) -> nn.Module:
    """DeepLabV3+ (plain ASPP convs, no ASPP dropout, random init: weights come only from a local file), or
    for a ``dinov2-*`` encoder UniMatch V2's DINOv2 + DPT (:mod:`imlib.study_a.dpt`; output stride and
    ASPP rates do not apply to it)."""
    from imlib.study_a.dpt import build_by_name, is_dinov2  # dpt imports this module's types

    if is_dinov2(encoder):
        if aux_head or rep_dim:
            raise ValueError(f"{encoder}: the DPT segmenter has no aux or representation head")
        return build_by_name(encoder, num_classes)
    if encoder not in ENCODERS:
        raise ValueError(f"unknown Study A encoder {encoder!r}; choose one of {ENCODERS} or a DINOv2 encoder "
                         "(dinov2-s14, dinov2-b14, or with -d<depth>)")
    if output_stride not in (8, 16):
        raise ValueError(f"output stride must be 8 or 16, got {output_stride}")
    smp_name = encoder.removesuffix("-deepstem")
    model = smp.DeepLabV3Plus(
        smp_name, encoder_weights=None, encoder_output_stride=output_stride,
        decoder_atrous_rates=tuple(atrous_rates), decoder_aspp_separable=False, decoder_aspp_dropout=0.0,
        classes=num_classes)
    if encoder in _DEEPSTEM_LAYERS:
        # same channel widths at every stride the decoder reads, so smp's decoder stays valid
        model.encoder = DeepStemResNetEncoder(_DEEPSTEM_LAYERS[encoder], output_stride)
    return StudyANet(model, encoder, num_classes, output_stride, aux_head=aux_head, rep_dim=rep_dim)


def count_parameters(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())
