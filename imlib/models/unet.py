"""The paper's lightweight "1x1 U-Net" (unet.py of the official 2024 code), ported to PyTorch.

Every stage pairs a k x k convolution with a 1 x 1 convolution; skips are *added* (not concatenated);
upsampling is nearest-neighbour; the width of every layer is a multiple of ``alpha``. Ported details
that make the parameter count and the training dynamics match the Keras original:

* each convolution applies ReLU itself and is followed (where the original has one) by BatchNorm,
  i.e. Conv -> ReLU -> BN, not the usual Conv -> BN -> ReLU;
* BatchNorm uses Keras' defaults, momentum 0.99 and eps 1e-3 (PyTorch ``momentum=0.01``; see ``bn_momentum``);
* weights are he-normal (truncated normal, std sqrt(2 / fan_in)), biases zero;
* the network takes the raw 0..255 image (uint8 or float) and divides by 255 itself.

Difference: the Keras model ends in a sigmoid/softmax; this one returns logits, and
:func:`imlib.losses.activate` applies the task's activation, which is numerically safer for the
cross-entropy loss and for bf16 autocast.
"""
from __future__ import annotations

import math

import torch
from torch import nn

KERAS_BN_MOMENTUM = 0.01  # Keras momentum 0.99 in PyTorch's convention


class ConvReLU(nn.Sequential):
    """Conv (bias, 'same' padding) followed by ReLU, as Keras' ``Conv2D(activation='relu')``; with
    ``models`` = K, K independent convolutions in one (``groups=K``, channels K times as many)."""

    def __init__(self, c_in: int, c_out: int, k: int, models: int = 1):
        super().__init__(nn.Conv2d(c_in * models, c_out * models, k, padding=k // 2, groups=models),
                         nn.ReLU(inplace=True))


class EncoderBlock(nn.Module):
    def __init__(self, c_in: int, f1: int, f2: int, k: int, bn, models: int = 1):
        super().__init__()
        self.convs = nn.Sequential(ConvReLU(c_in, f1, k, models), ConvReLU(f1, f2, 1, models), bn(f2))
        self.pool = nn.MaxPool2d(2)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        skip = self.convs(x)
        return self.pool(skip), skip


class DecoderBlock(nn.Module):
    def __init__(self, c_in: int, f1: int, f2: int, k: int, bn, models: int = 1):
        super().__init__()
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.entry = nn.Sequential(ConvReLU(c_in, f1, 1, models), bn(f1))
        self.convs = nn.Sequential(ConvReLU(f1, f1, k, models), ConvReLU(f1, f2, 1, models), bn(f2))

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.convs(self.entry(self.up(x) + skip))


class LightUNet(nn.Module):
    """The paper's U-Net with width multiplier ``alpha`` (ISIC 0.5; HeLa, SUIM, Cityscapes 1).

    Input: (B, in_channels, H, W) with values 0..255, H and W divisible by 16.
    Output: logits (B, num_outputs, H, W), float32.
    ``bn_momentum`` defaults to Keras' 0.99 (0.01 here); short CPU smoke runs use PyTorch's 0.1, since
    with a few hundred steps the slow running statistics lag far behind the weights.

    ``models`` = K packs K independent U-Nets into one network: every convolution is grouped (``groups=K``),
    every BatchNorm has K times the channels, and nothing mixes channels across groups, so model k sees
    only input channels ``[k * in_channels, (k + 1) * in_channels)`` and writes output channels
    ``[k * num_outputs, (k + 1) * num_outputs)``. Training the packed network on the sum of the K models'
    losses is training K models (AdamW is element-wise): one step, a few large kernels instead of K x
    many small ones. :func:`pack` / :func:`unpack` convert between K single models and one packed model.
    """

    def __init__(self, in_channels: int, num_outputs: int, alpha: float = 1.0, kernel_size: int = 3,
                 bn_momentum: float = KERAS_BN_MOMENTUM, models: int = 1):
        super().__init__()
        if models < 1:
            raise ValueError(f"models must be at least 1, got {models}")
        bn = lambda c: nn.BatchNorm2d(c * models, momentum=bn_momentum, eps=1e-3)  # noqa: E731
        w = lambda c: max(1, int(c * alpha))  # noqa: E731  (Keras code: int(filters * alpha))
        k, K = kernel_size, models
        self.alpha, self.in_channels, self.num_outputs, self.models = alpha, in_channels, num_outputs, models
        self.bn_momentum = bn_momentum
        self.stem = nn.Sequential(ConvReLU(in_channels, w(16), 1, K), bn(w(16)))
        enc = [(w(16), w(16)), (w(32), w(32)), (w(64), w(64)), (w(128), w(128))]
        self.encoders = nn.ModuleList()
        c = w(16)
        for f1, f2 in enc:
            self.encoders.append(EncoderBlock(c, f1, f2, k, bn, K))
            c = f2
        self.bottleneck = nn.Sequential(ConvReLU(c, w(256), 3, K), ConvReLU(w(256), w(128), 1, K), bn(w(128)))
        dec = [(w(128), w(64)), (w(64), w(32)), (w(32), w(16)), (w(16), w(16))]
        self.decoders = nn.ModuleList()
        c = w(128)
        for f1, f2 in dec:
            self.decoders.append(DecoderBlock(c, f1, f2, k, bn, K))
            c = f2
        self.head = nn.Conv2d(c * K, num_outputs * K, 1, groups=K)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """he_normal as in Keras: truncated normal (+-2 std), std = sqrt(2 / fan_in); zero biases."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                fan_in = m.in_channels // m.groups * m.kernel_size[0] * m.kernel_size[1]
                std = math.sqrt(2.0 / fan_in) / 0.87962566103423978  # Keras' truncation correction
                nn.init.trunc_normal_(m.weight, std=std, a=-2 * std, b=2 * std)
                nn.init.zeros_(m.bias)

    def encode(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Stem + encoders + bottleneck; returns [skip1..skip4, bottleneck] (used for feature perturbation)."""
        if x.shape[-1] % 16 or x.shape[-2] % 16:
            raise ValueError(f"LightUNet needs H and W divisible by 16, got {tuple(x.shape[-2:])}")
        x = self.stem(x.to(self.head.weight.dtype) / 255.0)  # float32 (float64 when the net is)
        skips = []
        for enc in self.encoders:
            x, skip = enc(x)
            skips.append(skip)
        return skips + [self.bottleneck(x)]

    def decode_features(self, features: list[torch.Tensor]) -> torch.Tensor:
        """The decoder's last feature map, before the 1x1 head (U2PL's representation head reads it)."""
        *skips, x = features
        for dec, skip in zip(self.decoders, reversed(skips)):
            x = dec(x, skip)
        return x

    def decode(self, features: list[torch.Tensor]) -> torch.Tensor:
        """Logits from a (possibly perturbed) feature list of :meth:`encode` (UniMatch, CrossMatch)."""
        return self.head(self.decode_features(features)).float()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))


def pack(nets: list[LightUNet]) -> LightUNet:
    """One packed network (``models`` = K) holding the weights and BatchNorm statistics of K single U-Nets
    of the same shape (a grouped convolution's weight is its groups' weights stacked along dim 0)."""
    first = nets[0]
    if any(n.models != 1 for n in nets):
        raise ValueError("pack takes single models (models=1)")
    shape = (first.in_channels, first.num_outputs, first.alpha, first.bn_momentum)
    if any((n.in_channels, n.num_outputs, n.alpha, n.bn_momentum) != shape for n in nets):
        raise ValueError("pack needs U-Nets of one shape (channels, outputs, alpha, BatchNorm momentum)")
    kernel = first.encoders[0].convs[0][0].kernel_size[0]
    weight = first.head.weight
    packed = LightUNet(first.in_channels, first.num_outputs, first.alpha, kernel, first.bn_momentum,
                       models=len(nets)).to(device=weight.device, dtype=weight.dtype)
    states = [n.state_dict() for n in nets]
    packed.load_state_dict({key: (states[0][key] if key.endswith("num_batches_tracked")
                                  else torch.cat([s[key] for s in states]))
                            for key in states[0]})
    return packed


def unpack(packed: LightUNet) -> list[dict[str, torch.Tensor]]:
    """The K single models' state dicts (each loads into ``LightUNet(..., models=1)``)."""
    K = packed.models
    return [{key: (v.clone() if key.endswith("num_batches_tracked") else v.chunk(K)[k].clone())
             for key, v in packed.state_dict().items()} for k in range(K)]


def stack_inputs(batches: list[torch.Tensor]) -> torch.Tensor:
    """K batches (B, C, H, W), one per packed model, as the packed network's input (B, K * C, H, W)."""
    return torch.cat(batches, 1)


def split_outputs(logits: torch.Tensor, models: int) -> torch.Tensor:
    """The packed network's output (B, K * C, H, W) as (K, B, C, H, W)."""
    b, kc, h, w = logits.shape
    return logits.view(b, models, kc // models, h, w).transpose(0, 1)


def count_parameters(model: nn.Module, include_bn_statistics: bool = False) -> int:
    """Trainable parameters; with ``include_bn_statistics`` also BN running mean/var (the Keras count)."""
    n = sum(p.numel() for p in model.parameters() if p.requires_grad)
    if include_bn_statistics:
        n += sum(m.running_mean.numel() + m.running_var.numel()
                 for m in model.modules() if isinstance(m, nn.BatchNorm2d))
    return n
