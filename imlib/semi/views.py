"""Weak and strong views of a batch, batched on the training device (uint8 in, uint8 out).

* weak: the task's geometry only (flips, and rot90 where the task allows it);
* strong (FixMatch/UniMatch): colour jitter (brightness, contrast, saturation 0.5, hue 0.25) with
  p 0.8, greyscale with p 0.2, Gaussian blur with sigma in [0.1, 2] with p 0.5; then CutMix;
* iMAS's intensity augmentation: two operations per image from a RandAugment-like list, blended
  with the weak image by the image's hardness; iMAS's CutMix box (one side fraction for the batch).

Every sample draws its own parameters from a ``torch.Generator`` on the device, so a method's views
are reproducible and resumable (the generator's state goes into the checkpoint).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from imlib.data.augment import geometric

__all__ = ["weak_view", "strong_view", "cutmix_boxes", "side_fraction_boxes", "mix", "intensity_ops",
           "random_intensity"]


def _u(b: int, gen: torch.Generator, device, lo: float = 0.0, hi: float = 1.0) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(b, generator=gen, device=device)


def weak_view(images: torch.Tensor, labels: torch.Tensor | None, free_rotation: bool, gen: torch.Generator):
    """The weak view: geometry only, applied jointly to images and (optional) labels."""
    lab = labels if labels is not None else images[:, :1]
    images, lab = geometric(images, lab, free_rotation, gen)
    return images, (lab if labels is not None else None)


def _grey(x: torch.Tensor) -> torch.Tensor:
    if x.shape[1] != 3:
        return x.mean(1, keepdim=True)
    return (0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3])


_RGB2YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
_YIQ2RGB = torch.linalg.inv(_RGB2YIQ)  # once, on the CPU (an inverse on CUDA checks for singularity: a sync)
_ON_DEVICE: dict[tuple[torch.device, torch.dtype], tuple[torch.Tensor, torch.Tensor]] = {}


def _yiq_matrices(like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The two colour matrices on ``like``'s device and dtype, copied there once."""
    key = (like.device, like.dtype)
    if key not in _ON_DEVICE:
        _ON_DEVICE[key] = (_RGB2YIQ.to(like.device, like.dtype), _YIQ2RGB.to(like.device, like.dtype))
    return _ON_DEVICE[key]


def _hue_rotate(x: torch.Tensor, turns: torch.Tensor) -> torch.Tensor:
    """Rotate hue by ``turns`` (fraction of a full turn) in YIQ space (RGB in 0..1, batched)."""
    if x.shape[1] != 3:
        return x
    rgb2yiq, yiq2rgb = _yiq_matrices(x)
    yiq = torch.einsum("ij,bjhw->bihw", rgb2yiq, x)
    a = 2 * math.pi * turns.view(-1, 1, 1)
    i, q = yiq[:, 1], yiq[:, 2]
    yiq = torch.stack([yiq[:, 0], i * a.cos() - q * a.sin(), i * a.sin() + q * a.cos()], 1)
    return torch.einsum("ij,bjhw->bihw", yiq2rgb, yiq).clamp(0, 1)


def _blur(x: torch.Tensor, sigma: torch.Tensor, max_sigma: float) -> torch.Tensor:
    """Per-sample Gaussian blur (reflected borders) with one kernel size for every batch,
    2 * ceil(3 * max_sigma) + 1 from the upper bound of the sigmas' range: a size read from the drawn sigmas
    would make the host wait for the device each time (up to e2cf5a9 it was 2 * ceil(3 * the batch's
    largest sigma) + 1, so the Gaussian's tail was cut a little shorter: measured on random images, at most
    0.06 of a grey level, before the rounding to uint8)."""
    k = 2 * math.ceil(3 * max_sigma) + 1
    r = torch.arange(k, device=x.device, dtype=x.dtype) - k // 2
    g = torch.exp(-(r.view(1, -1) ** 2) / (2 * sigma.view(-1, 1) ** 2))
    g = g / g.sum(1, keepdim=True)  # (B, k)
    b, c, h, w = x.shape
    pad = min(k // 2, h - 1, w - 1)
    if pad < k // 2:  # image smaller than the kernel: crop the kernel
        g = g[:, k // 2 - pad:k // 2 + pad + 1]
        g = g / g.sum(1, keepdim=True)
        k = 2 * pad + 1
    y = F.pad(x.reshape(1, b * c, h, w), (pad, pad, pad, pad), mode="reflect")
    gk = g.repeat_interleave(c, 0)
    y = F.conv2d(y, gk.view(b * c, 1, 1, k), groups=b * c)
    y = F.conv2d(y, gk.view(b * c, 1, k, 1), groups=b * c)
    return y.view(b, c, h, w)


def strong_view(images: torch.Tensor, gen: torch.Generator, jitter: tuple[float, float, float, float] = (0.5, 0.5, 0.5, 0.25),
                p_jitter: float = 0.8, p_grey: float = 0.2, p_blur: float = 0.5,
                sigma: tuple[float, float] = (0.1, 2.0)) -> torch.Tensor:
    """UniMatch's strong intensity view (before CutMix). Geometry is left alone so that the weak
    view's pseudo-label stays aligned."""
    b, dev = images.shape[0], images.device
    x = images.float() / 255.0
    on = (_u(b, gen, dev) < p_jitter).view(-1, 1, 1, 1)
    br, co, sa, hu = jitter
    y = x * _u(b, gen, dev, 1 - br, 1 + br).view(-1, 1, 1, 1)
    mean = _grey(y).mean((1, 2, 3), keepdim=True)
    y = (y - mean) * _u(b, gen, dev, 1 - co, 1 + co).view(-1, 1, 1, 1) + mean
    y = y.clamp(0, 1)
    g = _grey(y)
    y = ((y - g) * _u(b, gen, dev, 1 - sa, 1 + sa).view(-1, 1, 1, 1) + g).clamp(0, 1)
    y = _hue_rotate(y, _u(b, gen, dev, -hu, hu))
    x = torch.where(on, y, x)
    grey = (_u(b, gen, dev) < p_grey).view(-1, 1, 1, 1)
    x = torch.where(grey, _grey(x).expand_as(x), x)
    blur = (_u(b, gen, dev) < p_blur).view(-1, 1, 1, 1)
    x = torch.where(blur, _blur(x, _u(b, gen, dev, *sigma), sigma[1]), x)
    return (x * 255).round().clamp(0, 255).to(torch.uint8)


def cutmix_boxes(b: int, h: int, w: int, gen: torch.Generator, device, p: float = 0.5,
                 area: tuple[float, float] = (0.02, 0.4), ratio: tuple[float, float] = (0.3, 1 / 0.3),
                 apply: torch.Tensor | None = None) -> torch.Tensor:
    """One random box per image, (B, H, W) bool; all False for images that draw no CutMix (p).

    Box area is uniform in ``area`` (fraction of the image), aspect ratio log-uniform in ``ratio``.
    """
    a = _u(b, gen, device, *area) * h * w
    r = torch.exp(_u(b, gen, device, math.log(ratio[0]), math.log(ratio[1])))
    bh = (a / r).sqrt().clamp(1, h).floor()
    bw = (a * r).sqrt().clamp(1, w).floor()
    y0 = (_u(b, gen, device) * (h - bh + 1)).floor()
    x0 = (_u(b, gen, device) * (w - bw + 1)).floor()
    ys = torch.arange(h, device=device).view(1, -1, 1)
    xs = torch.arange(w, device=device).view(1, 1, -1)
    box = ((ys >= y0.view(-1, 1, 1)) & (ys < (y0 + bh).view(-1, 1, 1))
           & (xs >= x0.view(-1, 1, 1)) & (xs < (x0 + bw).view(-1, 1, 1)))
    use = (_u(b, gen, device) < p) if apply is None else apply
    return box & use.view(-1, 1, 1)


def side_fraction_boxes(b: int, h: int, w: int, gen: torch.Generator, device, side: tuple[float, float] = (0.1, 0.9),
                        apply: torch.Tensor | None = None) -> torch.Tensor:
    """iMAS's CutMix box, (B, H, W) bool (official ``cut_mix_by_hardness``/``rand_bbox_by_v``): one side
    fraction v, uniform in ``side``, shared by the whole batch; each image's box has half-sides
    floor(floor(v H) / 2) and floor(floor(v W) / 2) around a centre drawn per image (row in
    [H // 16, H), column in [W // 16, W)) and is clipped to the image, so boxes near the border are
    smaller. ``apply``: (B,) bool, the images that get a box (all when None)."""
    v = _u(1, gen, device, *side)
    half_h = (v * h).floor().div(2).floor()
    half_w = (v * w).floor().div(2).floor()
    cy = (h // 16 + _u(b, gen, device) * (h - h // 16)).floor()
    cx = (w // 16 + _u(b, gen, device) * (w - w // 16)).floor()
    y0, y1 = (cy - half_h).clamp_min(0), (cy + half_h).clamp_max(h)
    x0, x1 = (cx - half_w).clamp_min(0), (cx + half_w).clamp_max(w)
    ys = torch.arange(h, device=device).view(1, -1, 1)
    xs = torch.arange(w, device=device).view(1, 1, -1)
    box = ((ys >= y0.view(-1, 1, 1)) & (ys < y1.view(-1, 1, 1))
           & (xs >= x0.view(-1, 1, 1)) & (xs < x1.view(-1, 1, 1)))
    return box if apply is None else box & apply.view(-1, 1, 1)


def mix(base: torch.Tensor, partner: torch.Tensor, box: torch.Tensor) -> torch.Tensor:
    """Paste ``partner`` into ``base`` inside ``box`` (any (B, C, H, W) tensors)."""
    return torch.where(box[:, None], partner, base)


# --- iMAS: RandAugment-like intensity operations, float images in 0..1 ----------------------------

def _autocontrast(x, m):
    lo = x.amin((2, 3), keepdim=True)
    hi = x.amax((2, 3), keepdim=True)
    return ((x - lo) / (hi - lo).clamp_min(1e-3)).clamp(0, 1)


def _sharpness(x, m):
    k = x.new_tensor([[1, 1, 1], [1, 5, 1], [1, 1, 1]]) / 13
    c = x.shape[1]
    smooth = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), k.expand(c, 1, 3, 3), groups=c)
    return (x + (x - smooth) * m).clamp(0, 1)


def _posterize(x, m):
    levels = 2 ** (8 - (4 * m).round().clamp(0, 4))  # 8 .. 4 bits
    return ((x * 255).div(256 / levels).floor() * (256 / levels)) / 255


INTENSITY_OPS = {
    "identity": lambda x, m: x,
    "autocontrast": _autocontrast,
    "invert": lambda x, m: 1 - x,
    "blur": lambda x, m: _blur(x, 0.1 + 1.9 * m.flatten(), 2.0),
    "contrast": lambda x, m: ((x - _grey(x).mean((1, 2, 3), keepdim=True)) * (1 + (2 * m - 1) * 0.9)
                              + _grey(x).mean((1, 2, 3), keepdim=True)).clamp(0, 1),
    "brightness": lambda x, m: (x * (1 + (2 * m - 1) * 0.9)).clamp(0, 1),
    "color": lambda x, m: ((x - _grey(x)) * (1 + (2 * m - 1) * 0.9) + _grey(x)).clamp(0, 1),
    "sharpness": lambda x, m: _sharpness(x, 0.9 * m),
    "posterize": _posterize,
    "solarize": lambda x, m: torch.where(x >= 1 - m, 1 - x, x),
    "hue": lambda x, m: _hue_rotate(x, (m.flatten() - 0.5) * 0.5),
}


def intensity_ops() -> tuple[str, ...]:
    """The iMAS operation list (equalize is left out: it has no cheap batched form; see the docs)."""
    return tuple(INTENSITY_OPS)


def random_intensity(images: torch.Tensor, gen: torch.Generator, n_ops: int = 2) -> torch.Tensor:
    """Apply ``n_ops`` operations drawn per image (with random magnitudes) to a uint8 batch."""
    b, dev = images.shape[0], images.device
    x = images.float() / 255.0
    names = list(INTENSITY_OPS)
    for _ in range(n_ops):
        choice = torch.randint(0, len(names), (b,), generator=gen, device=dev).view(-1, 1, 1, 1)
        m = _u(b, gen, dev).view(-1, 1, 1, 1)
        out = x
        for i, name in enumerate(names):  # every operation on the whole batch, each image keeps its own
            out = torch.where(choice == i, INTENSITY_OPS[name](x, m), out)  # (no branch on the data)
        x = out
    return (x * 255).round().clamp(0, 255).to(torch.uint8)
