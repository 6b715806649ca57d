"""The paper's augmentation, batched on the training device (no per-image Python loop).

The original makes ALDT/AFDT copies offline with OpenCV, image by image: flips and rot90, contrast
and brightness (``convertScaleAbs``), Gaussian blur with a random kernel, uniform integer noise.
Here every sample of a uint8 batch draws its own parameters and the whole batch is transformed with
tensor ops, so 9 copies of a dataset cost a few batched calls on the GPU.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from imlib.data.task import AugmentConfig


def _gaussian_kernel(k: int, device) -> torch.Tensor:
    sigma = 0.3 * ((k - 1) * 0.5 - 1) + 0.8  # OpenCV's sigma for GaussianBlur(ksize=k, sigma=0)
    x = torch.arange(k, device=device, dtype=torch.float32) - (k - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    return g / g.sum()


def gaussian_blur(images: torch.Tensor, k: int) -> torch.Tensor:
    """Separable Gaussian blur of a float batch (B, C, H, W), reflected borders as OpenCV."""
    if k <= 1:
        return images
    c = images.shape[1]
    g = _gaussian_kernel(k, images.device)
    x = F.pad(images, (k // 2, k // 2, k // 2, k // 2), mode="reflect")
    x = F.conv2d(x, g.view(1, 1, 1, k).expand(c, 1, 1, k), groups=c)
    return F.conv2d(x, g.view(1, 1, k, 1).expand(c, 1, k, 1), groups=c)


def _where(sel: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.where(sel.view(-1, 1, 1, 1), a, b)


def geometric(images: torch.Tensor, labels: torch.Tensor, free_rotation: bool, gen: torch.Generator):
    """Random h-flip (p 0.5); with ``free_rotation`` also v-flip (p 0.5) and rot90 (square images)."""
    b, dev = images.shape[0], images.device
    hflip = torch.rand(b, generator=gen, device=dev) < 0.5
    images, labels = _where(hflip, images.flip(-1), images), _where(hflip, labels.flip(-1), labels)
    if free_rotation:
        vflip = torch.rand(b, generator=gen, device=dev) < 0.5
        images, labels = _where(vflip, images.flip(-2), images), _where(vflip, labels.flip(-2), labels)
        if images.shape[-1] == images.shape[-2]:
            k = torch.randint(0, 4, (b,), generator=gen, device=dev)
            for r in (1, 2, 3):
                sel = k == r
                images = _where(sel, images.rot90(r, (-2, -1)), images)
                labels = _where(sel, labels.rot90(r, (-2, -1)), labels)
    return images, labels


def photometric(images: torch.Tensor, cfg: AugmentConfig, gen: torch.Generator) -> torch.Tensor:
    """Contrast/brightness (p 0.5), Gaussian blur (kernel uniform in cfg.blur_kernels), noise. uint8 in/out."""
    b, dev = images.shape[0], images.device
    x = images.float()
    lo, hi = cfg.contrast
    alpha = lo + (hi - lo) * torch.rand(b, generator=gen, device=dev)
    beta = (2 * torch.rand(b, generator=gen, device=dev) - 1) * cfg.brightness
    on = torch.rand(b, generator=gen, device=dev) < 0.5
    alpha, beta = torch.where(on, alpha, 1.0), torch.where(on, beta, 0.0)
    x = (x * alpha.view(-1, 1, 1, 1) + beta.view(-1, 1, 1, 1)).abs()  # convertScaleAbs takes |.|
    if cfg.blur_kernels:
        choice = torch.randint(0, len(cfg.blur_kernels), (b,), generator=gen, device=dev)
        out = x.clone()
        for i, k in enumerate(cfg.blur_kernels):
            sel = choice == i
            if k > 1 and sel.any():
                out[sel] = gaussian_blur(x[sel], k)
        x = out
    if cfg.noise:
        x = x + torch.randint(-cfg.noise, cfg.noise + 1, x.shape, generator=gen, device=dev)
    return x.round().clamp(0, 255).to(torch.uint8)


def augment(images: torch.Tensor, labels: torch.Tensor, cfg: AugmentConfig, gen: torch.Generator):
    """One augmented copy of a batch: geometry applied jointly to image and label, photometry to the image."""
    if images.dtype != torch.uint8 or labels.dtype != torch.uint8:
        raise ValueError(f"augment expects uint8 images and labels, got {images.dtype} and {labels.dtype}")
    images, labels = geometric(images, labels, cfg.free_rotation, gen)
    return photometric(images, cfg, gen), labels


def augmented_copies(images: torch.Tensor, labels: torch.Tensor, cfg: AugmentConfig, copies: int,
                     seed: int, batch_size: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """The originals followed by ``copies`` augmented copies of each (ALDT/AFDT: copies = 9)."""
    gen = torch.Generator(device=images.device).manual_seed(seed)
    out_i, out_l = [images], [labels]
    for _ in range(copies):
        for s in range(0, len(images), batch_size):
            i, l = augment(images[s:s + batch_size], labels[s:s + batch_size], cfg, gen)
            out_i.append(i)
            out_l.append(l)
    return torch.cat(out_i), torch.cat(out_l)
