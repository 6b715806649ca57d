"""The embedded default: three procedurally generated, seeded tasks that stand in for the paper's data.

They exercise every code path of the real datasets without a download, and they are built so that
labels matter (a model trained on 10 % of the images is clearly worse than one trained on all):

* ``synthetic-lesion`` (binary, RGB, stands in for ISIC 2018): one irregular lesion with a fuzzy border
  and mottled interior on textured, unevenly lit skin; freckles, hairs and vignetting as distractors;
  lesion contrast ranges from obvious to faint.
* ``synthetic-cells`` (multi-label, grey, stands in for HeLa): alive cells (irregular ellipses, dark
  body and bright halo) and dead cells (small, round, refractile) with alive / dead / position targets;
  the position channel holds discs of the paper's radius rule at the cell centres; debris distracts.
* ``synthetic-scenes`` (multi-class, RGB, 8 classes + the reserved IM class 0, stands in for SUIM):
  water, sea floor, reefs, plants, wrecks, robots, fish and divers, each with its own texture, under a
  random colour cast and haze so that colour alone does not decide the class.

Everything is generated on the CPU from one seed (the same seed gives the same bytes everywhere).
Nothing here is, or is presented as, the paper's data.
"""
from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from imlib.cell_positions import disc_radii, draw_discs

GENERATOR_VERSION = 3  # bump when the images a seed produces change
SEED_STRIDE = 7919  # image i < SEED_STRIDE of seed s draws from base + s * SEED_STRIDE + i (version 3's images)


class _Rng:
    """A torch.Generator with the few draws the painters need."""

    def __init__(self, seed: int):
        self.g = torch.Generator().manual_seed(seed)

    def u(self, lo: float = 0.0, hi: float = 1.0) -> float:
        return lo + (hi - lo) * float(torch.rand((), generator=self.g))

    def i(self, lo: int, hi: int) -> int:  # inclusive
        return int(torch.randint(lo, hi + 1, (), generator=self.g))

    def p(self, prob: float) -> bool:
        return self.u() < prob

    def field(self, h: int, w: int, cells: int, channels: int = 1) -> torch.Tensor:
        """Smooth noise (channels, h, w), roughly in [-1, 1], with ``cells`` blobs across."""
        cells = max(2, cells)
        low = torch.randn((1, channels, cells, cells), generator=self.g)
        return F.interpolate(low, size=(h, w), mode="bicubic", align_corners=False)[0].clamp(-2.5, 2.5) / 1.2

    def normal(self, *shape: int) -> torch.Tensor:
        return torch.randn(shape, generator=self.g)


def _grid(s: int) -> tuple[torch.Tensor, torch.Tensor]:
    y, x = torch.meshgrid(torch.arange(s, dtype=torch.float32), torch.arange(s, dtype=torch.float32), indexing="ij")
    return y, x


def _blob_sdf(rng: _Rng, s: int, cy: float, cx: float, r: float, wobble: float, angle: float = 0.0,
              aspect: float = 1.0) -> torch.Tensor:
    """Signed distance-like field (> 0 inside) of an irregular, possibly elongated blob."""
    y, x = _grid(s)
    dy, dx = y - cy, x - cx
    ca, sa = math.cos(angle), math.sin(angle)
    u, v = dx * ca + dy * sa, (-dx * sa + dy * ca) * aspect
    d = torch.sqrt(u**2 + v**2)
    theta = torch.atan2(v, u)
    radius = torch.ones_like(theta)
    for k in range(2, 6):
        radius = radius + wobble * rng.u(-1, 1) / k * torch.cos(k * theta + rng.u(0, 2 * math.pi))
    return r * radius - d


def _lesion(rng: _Rng, s: int) -> tuple[torch.Tensor, torch.Tensor]:
    y, x = _grid(s)
    if rng.p(0.7):  # light skin
        skin = torch.tensor([rng.u(195, 245), rng.u(145, 195), rng.u(120, 170)]).view(3, 1, 1)
    else:  # dark skin
        skin = torch.tensor([rng.u(120, 175), rng.u(80, 125), rng.u(55, 100)]).view(3, 1, 1)
    tex = 1 + 0.07 * rng.field(s, s, s // 8) + 0.04 * rng.field(s, s, s // 3)
    a = rng.u(0, 2 * math.pi)
    illum = 1 + rng.u(0.0, 0.25) * ((x - s / 2) * math.cos(a) + (y - s / 2) * math.sin(a)) / s
    img = skin * tex * illum
    # lesion: irregular blob, fuzzy border, mottled interior, contrast from obvious to faint
    r = rng.u(0.12, 0.32) * s
    cy, cx = rng.u(0.25, 0.75) * s, rng.u(0.25, 0.75) * s
    sdf = _blob_sdf(rng, s, cy, cx, r, wobble=rng.u(0.1, 0.5)) + 0.06 * r * rng.field(s, s, 6)[0]
    alpha = torch.sigmoid(sdf / rng.u(0.6, 2.5))
    family = rng.u()
    if family < 0.55:  # brown
        dark, tint = rng.u(0.45, 0.9), torch.tensor([1.0, rng.u(0.7, 0.95), rng.u(0.6, 0.95)])
    elif family < 0.8:  # pink-red, faint
        dark, tint = rng.u(0.75, 0.95), torch.tensor([rng.u(1.0, 1.15), rng.u(0.6, 0.8), rng.u(0.65, 0.85)])
    else:  # blue-black
        dark, tint = rng.u(0.3, 0.55), torch.tensor([rng.u(0.6, 0.8), rng.u(0.7, 0.9), 1.0])
    tint = tint.view(3, 1, 1)
    mottle = 1 + 0.18 * rng.field(s, s, s // 5) + 0.1 * rng.field(s, s, s // 2)
    lesion_col = img * dark * tint * mottle
    img = img * (1 - alpha) + lesion_col * alpha
    # distractors: benign moles (smaller, round, not the lesion), freckles, hairs, vignette
    for _ in range(rng.i(0, 2)):
        mole = _blob_sdf(rng, s, rng.u(0.1, 0.9) * s, rng.u(0.1, 0.9) * s, rng.u(0.04, 0.08) * s, wobble=0.1)
        img = img * (1 - (1 - rng.u(0.35, 0.7)) * torch.sigmoid(mole / 0.8) * (sdf < -2))
    for _ in range(rng.i(0, 7)):
        fr = _blob_sdf(rng, s, rng.u(0, s), rng.u(0, s), rng.u(0.8, 0.05 * s), wobble=0.2)
        img = img * (1 - (1 - rng.u(0.55, 0.85)) * torch.sigmoid(fr / 0.7))
    for _ in range(rng.i(0, 3)):
        y0, x0, ang, bend = rng.u(0, s), rng.u(0, s), rng.u(0, math.pi), rng.u(-0.02, 0.02)
        along = (x - x0) * math.cos(ang) + (y - y0) * math.sin(ang)
        across = -(x - x0) * math.sin(ang) + (y - y0) * math.cos(ang) - bend * along**2
        hair = torch.exp(-(across**2) / 0.6) * (along.abs() < rng.u(0.3, 0.8) * s)
        img = img * (1 - 0.6 * hair)
    if rng.p(0.5):
        rr = torch.sqrt((y - s / 2) ** 2 + (x - s / 2) ** 2) / (s / 2)
        img = img * (1 - rng.u(0.3, 0.9) * (rr / 1.42).clamp(0, 1) ** 3)
    img = img + rng.normal(3, s, s) * 3
    label = (sdf > 0).to(torch.uint8)[None]
    return img.round().clamp(0, 255).to(torch.uint8), label


def _cells(rng: _Rng, s: int) -> tuple[torch.Tensor, torch.Tensor]:
    y, x = _grid(s)
    bg = rng.u(100, 150)
    img = bg + 14 * rng.field(s, s, 3)[0] + 5 * rng.field(s, s, s // 4)[0]
    alive = torch.zeros(s, s, dtype=torch.bool)
    dead = torch.zeros(s, s, dtype=torch.bool)
    centres: list[tuple[float, float, float]] = []
    n_cells = rng.i(max(2, s * s // 1400), max(4, s * s // 230))
    contrast = rng.u(0.5, 1.3)
    # imaging mode: phase contrast (bright halo), bright field (dark border, no halo), inverted
    mode = rng.u()
    halo_sign, body_sign = (1, -1) if mode < 0.5 else ((-1, -1) if mode < 0.8 else (-1, 1))
    for _ in range(40 * n_cells):
        if len(centres) >= n_cells:
            break
        is_dead = rng.p(0.3)
        r = rng.u(2.5, 4.5) if is_dead else rng.u(3.5, 7.5)
        cy, cx = rng.u(0, s - 1), rng.u(0, s - 1)
        if any(math.hypot(cy - oy, cx - ox) < 0.85 * (r + orr) for oy, ox, orr in centres):
            continue
        centres.append((cy, cx, r))
        if is_dead:
            sdf = _blob_sdf(rng, s, cy, cx, r, wobble=0.08)
            body, rim = sdf > 0, (sdf > -1.2) & (sdf <= 0)
            img = torch.where(body, img + contrast * rng.u(30, 60), img)
            img = torch.where(rim, img - contrast * 20, img)
            dead |= body
        else:
            sdf = _blob_sdf(rng, s, cy, cx, r, wobble=0.35, angle=rng.u(0, math.pi), aspect=rng.u(1.0, 1.8))
            body, halo = sdf > 0, (sdf > -1.8) & (sdf <= 0)
            img = torch.where(body, img + body_sign * contrast * rng.u(4, 22) + 7 * rng.field(s, s, s // 3)[0], img)
            img = torch.where(halo, img + halo_sign * contrast * rng.u(12, 35), img)
            alive |= body
    alive &= ~dead
    for _ in range(rng.i(0, 6)):  # debris: small dark specks, not cells
        sdf = _blob_sdf(rng, s, rng.u(0, s), rng.u(0, s), rng.u(0.7, 1.8), wobble=0.3)
        img = torch.where(sdf > 0, img - rng.u(15, 40), img)
    img = img + rng.normal(s, s) * 6
    cent = np.array([[round(cy), round(cx)] for cy, cx, _ in centres], dtype=np.int64).reshape(-1, 2)
    position = torch.from_numpy(draw_discs(cent, disc_radii(cent), (s, s)))
    label = torch.stack([alive, dead, position]).to(torch.uint8)
    return img.round().clamp(0, 255).to(torch.uint8)[None], label


SCENE_CLASSES = ("IM", "water", "diver", "plant", "wreck", "robot", "reef", "fish", "floor")


def _hue(rng: _Rng, families: list[tuple[int, int, int]], spread: float = 35) -> torch.Tensor:
    """A colour drawn around one of a class's colour families."""
    base = families[rng.i(0, len(families) - 1)]
    return torch.tensor([min(255.0, max(0.0, c + rng.u(-spread, spread))) for c in base]).view(3, 1, 1)


def _scene(rng: _Rng, s: int) -> tuple[torch.Tensor, torch.Tensor]:
    y, x = _grid(s)
    cls = {n: i for i, n in enumerate(SCENE_CLASSES)}
    label = torch.full((s, s), cls["water"], dtype=torch.uint8)
    top = torch.tensor([rng.u(20, 70), rng.u(90, 160), rng.u(140, 210)]).view(3, 1, 1)
    bottom = top * rng.u(0.4, 0.8)
    water = top + (bottom - top) * (y / s) + 10 * rng.field(s, s, s // 6)
    img = water.clone()

    def paint(mask: torch.Tensor, colour: torch.Tensor, name: str) -> None:
        nonlocal img
        img = torch.where(mask, colour, img)
        label[mask] = cls[name]

    # sea floor: a wavy horizon, speckled sand/rock
    horizon = rng.u(0.55, 0.85) * s + 0.08 * s * rng.field(1, s, 4)[0, 0]
    floor = y > horizon.view(1, s)
    sand = _hue(rng, [(170, 150, 110), (110, 110, 105), (70, 60, 55)])  # sand, grey rock, dark rock
    paint(floor, sand * (1 + 0.25 * rng.field(s, s, s // 2)) + 18 * rng.normal(1, s, s), "floor")
    for _ in range(rng.i(0, 2)):  # plants: wavy vertical stripes rising from the floor
        x0, width, height = rng.u(0, s), rng.u(0.1, 0.3) * s, rng.u(0.2, 0.5) * s
        period, phase = rng.u(2.5, 5), rng.u(0, 6.3)
        wave = torch.sin(2 * math.pi * (x + 2 * torch.sin(y / rng.u(3, 7))) / period + phase)
        region = ((x - x0).abs() < width / 2) & (y > horizon.view(1, s) - height) & (y < horizon.view(1, s) + 2)
        green = _hue(rng, [(30, 170, 40), (120, 110, 30), (150, 50, 60)])  # green, brown or red algae
        paint(region & (wave > 0.2), green * (0.8 + 0.3 * rng.field(s, s, s // 4)), "plant")
    for _ in range(rng.i(0, 3)):  # reefs: blobs on the horizon, spotted
        cx = rng.u(0, s)
        cy = float(horizon[min(int(cx), s - 1)]) + rng.u(-0.05, 0.05) * s
        sdf = _blob_sdf(rng, s, cy, cx, rng.u(0.08, 0.2) * s, wobble=0.5)
        base = torch.tensor([rng.u(60, 250), rng.u(40, 200), rng.u(40, 220)]).view(3, 1, 1)
        spots = (rng.field(s, s, s // 2)[0] > 0.4).float()
        paint(sdf > 0, base * (1 - 0.35 * spots) + 15 * rng.normal(1, s, s), "reef")
    if rng.p(0.4):  # wreck: a large rotated plank rectangle
        cy, cx, ang = rng.u(0.4, 0.8) * s, rng.u(0.2, 0.8) * s, rng.u(-0.4, 0.4)
        u = (x - cx) * math.cos(ang) + (y - cy) * math.sin(ang)
        v = -(x - cx) * math.sin(ang) + (y - cy) * math.cos(ang)
        box = (u.abs() < rng.u(0.15, 0.3) * s) & (v.abs() < rng.u(0.06, 0.15) * s)
        rust = _hue(rng, [(120, 80, 60), (110, 110, 110), (80, 110, 70)])  # rust, grey steel, algae-covered
        planks = (torch.sin(v * 2 * math.pi / rng.u(2.5, 4)) > 0.6).float()
        paint(box, rust * (1 - 0.4 * planks) * (1 + 0.2 * rng.field(s, s, s // 3)), "wreck")
    if rng.p(0.4):  # robot: small bright box with a dark window
        cy, cx, h2, w2 = rng.u(0.2, 0.7) * s, rng.u(0.15, 0.85) * s, rng.u(0.04, 0.09) * s, rng.u(0.06, 0.12) * s
        box = ((y - cy).abs() < h2) & ((x - cx).abs() < w2)
        window = ((y - cy).abs() < h2 / 2) & ((x - cx - w2 / 3).abs() < w2 / 3)
        body = _hue(rng, [(230, 200, 30), (240, 120, 30), (230, 230, 230), (210, 40, 40)])
        paint(box, torch.where(window, torch.full_like(body, 20.0), body).expand(3, s, s), "robot")
    if rng.p(0.5):  # diver: elongated dark body, bright tank stripe
        cy, cx, ang = rng.u(0.2, 0.7) * s, rng.u(0.2, 0.8) * s, rng.u(0, math.pi)
        sdf = _blob_sdf(rng, s, cy, cx, rng.u(0.12, 0.22) * s, wobble=0.15, angle=ang, aspect=rng.u(2.5, 3.5))
        u = (x - cx) * math.cos(ang) + (y - cy) * math.sin(ang)
        suit = _hue(rng, [(40, 40, 45), (30, 40, 90), (90, 30, 30)]) + 10 * rng.field(s, s, s // 4)
        tank = torch.tensor([rng.u(150, 230), rng.u(150, 230), rng.u(150, 230)]).view(3, 1, 1)
        paint(sdf > 0, torch.where((u.abs() < 0.05 * s), tank.expand(3, s, s), suit), "diver")
    for _ in range(rng.i(1, 4)):  # fish: small striped ellipses with a tail
        cy, cx, ang = rng.u(0.1, 0.8) * s, rng.u(0.05, 0.95) * s, rng.u(-0.5, 0.5)
        length = rng.u(0.06, 0.12) * s
        sdf = _blob_sdf(rng, s, cy, cx, length, wobble=0.05, angle=ang, aspect=rng.u(1.8, 2.6))
        u = (x - cx) * math.cos(ang) + (y - cy) * math.sin(ang)
        v = -(x - cx) * math.sin(ang) + (y - cy) * math.cos(ang)
        tail = (u < -0.8 * length) & (u > -1.5 * length) & (v.abs() < (-u - 0.8 * length) * 0.9)
        body = torch.tensor([rng.u(60, 255), rng.u(60, 255), rng.u(40, 220)]).view(3, 1, 1)
        stripes = (torch.sin(u * 2 * math.pi / rng.u(1.5, 3)) > 0.3).float()
        paint((sdf > 0) | tail, body * (1 - 0.45 * stripes), "fish")
    cast = torch.tensor([rng.u(0.5, 1.0), rng.u(0.8, 1.1), rng.u(0.9, 1.2)]).view(3, 1, 1)
    haze = rng.u(0.0, 0.4)
    img = (img * cast) * (1 - haze) + water * haze + 4 * rng.normal(3, s, s)
    return img.round().clamp(0, 255).to(torch.uint8), label[None]


PAINTERS: dict[str, Callable[[_Rng, int], tuple[torch.Tensor, torch.Tensor]]] = {
    "synthetic-lesion": _lesion,
    "synthetic-cells": _cells,
    "synthetic-scenes": _scene,
}


def generate(name: str, n: int, size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` images (n, C, size, size) uint8 and labels (n, L, size, size) uint8 of a synthetic task.

    Image i depends only on (name, seed, i) (see ``image_seed``), so a larger ``n`` extends a smaller
    one, and different seeds never share an image, whatever ``n``.
    """
    if name not in PAINTERS:
        raise ValueError(f"unknown synthetic dataset {name!r}; expected one of {sorted(PAINTERS)}")
    if size % 16:
        raise ValueError(f"synthetic image size must be divisible by 16, got {size}")
    pairs = [PAINTERS[name](_Rng(image_seed(name, seed, i)), size) for i in range(n)]
    return torch.stack([p[0] for p in pairs]), torch.stack([p[1] for p in pairs])


def image_seed(name: str, seed: int, i: int) -> int:
    """The torch seed of image ``i`` of ``seed``'s stream.

    Images ``i < SEED_STRIDE`` keep version 3's seeds, ``base + seed * SEED_STRIDE + i``, so every image
    made so far is unchanged; within that range distinct (seed, i) never share a seed. Beyond it that
    formula would run into the next seed's images (the train split's image 7919 was the val split's image
    0, as the splits use consecutive seeds), so those images draw a 64-bit seed from
    ``np.random.SeedSequence((name, seed, i))`` with the top bit set: independent per (seed, i), and
    outside the range of the small seeds above.
    """
    if i < 0:
        raise ValueError(f"image index must be >= 0, got {i}")
    base = sum(map(ord, name)) * 1_000_003
    if i < SEED_STRIDE:
        return base + seed * SEED_STRIDE + i
    words = [int.from_bytes(name.encode(), "little"), seed % 2**64, i]
    hi, lo = (int(w) for w in np.random.SeedSequence(words).generate_state(2, np.uint32))
    return (1 << 63) | ((hi << 32 | lo) & ((1 << 63) - 1))


def data_version(n: int) -> int | str:
    """The data version of a stream of ``n`` images: ``GENERATOR_VERSION`` while every image keeps version
    3's seed; a distinct version once images beyond ``SEED_STRIDE`` (new seeds) are part of it."""
    return GENERATOR_VERSION if n <= SEED_STRIDE else f"{GENERATOR_VERSION}+seedseq"
