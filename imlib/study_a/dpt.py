"""UniMatch V2's segmenter: a DINOv2-S/14 ViT (timm) with a DPT head written after V2's design.

Why not smp's DPT: smp 0.6.0 builds ``smp.DPT("tu-vit_small_patch14_dinov2", dynamic_img_size=True)`` but
every forward fails (measured at 112², 224², 224x448, 448², 518²): its reassemble
factors are the encoder stride divided by 4, 8, 16, 32 and truncated to integers (3, 1, 1, ½ for stride 14),
so the fusion blocks receive maps of mismatched sizes. It works only with patch-16 ViTs.

What follows UniMatch V2 (LiheYoung/UniMatch-V2 ``model/semseg/dpt.py``, ``model/util/blocks.py``,
``unimatch_v2.py``; small config):

- backbone: timm ``vit_small_patch14_dinov2`` (img_size 518, so ``pos_embed`` has 37x37+1 tokens as in
  Meta's file); blocks 2/5/8/11, each passed through the final LayerNorm, the class token dropped
  (timm's ``num_prefix_tokens`` = 1, no registers), as maps (B, 384, H/14, W/14);
- head: 1x1 projections to 48/96/192/384 channels; resized by ConvTranspose x4, ConvTranspose x2, identity
  and a stride-2 3x3 conv (strides 3.5, 7, 14, 28 of the input); 3x3 convs without bias to 64 channels;
  four fusion blocks from the coarsest level up (residual conv units of ReLU-conv3x3-ReLU-conv3x3 + input,
  bilinear resize with align_corners=True to the next level's size, the finest one x2, 1x1 out conv);
  output 3x3 conv, ReLU, 1x1 conv to the classes; bilinear (align_corners=True) to the input size; no
  BatchNorm anywhere; PyTorch's default init;
- optimiser groups: backbone at ``lr``, the head at ``lr x head_lr_multiplier`` (V2: AdamW 5e-6, x40).

What differs:

- V2's deepest fusion block builds a residual unit it never calls, and its backbone keeps DINOv2's
  ``mask_token`` (iBOT masking only); V2 therefore runs DDP with ``find_unused_parameters=True``. Both are
  left out here, so every parameter gets a gradient in each forward: 24.72 M parameters at 19 classes
  against V2's logged 24.8 M (73,856 + 384 fewer).
- positional embeddings are resampled by timm (bicubic to the exact patch grid, antialias on) instead of
  Meta's bicubic by a scale factor with a +0.1 offset, antialias off: a small numerical difference with
  the same weights.
- layer-scale starts at timm's 1e-5 (V2: 1.0); this only matters without pretrained weights (smoke scale).
- V2's complementary channel dropout (``comp_drop``) multiplies the tokens inside its forward; here the
  host's ``perturb`` callable maps the four feature maps (channel masks on maps = masks on tokens).
"""
from __future__ import annotations

import math
import re
from pathlib import Path

import timm
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from imlib.study_a.models import Perturb, SegOutput
from imlib.study_a.weights import fit_problems, key_listing, read_state_dict

PATCH = 14
# V2's model_configs: the timm ViT, DPT features and projection widths per size (small = the paper's DINOv2-S;
# base = SegKC's senior network in this companion's re-implementation)
SIZES = {"s": ("vit_small_patch14_dinov2", 64, (48, 96, 192, 384)),
         "b": ("vit_base_patch14_dinov2", 128, (96, 192, 384, 768))}
ENCODER_NAME = re.compile(r"dinov2-([sb])14(?:-d(\d+))?")
DROPPED_KEYS = ("mask_token",)  # Meta's iBOT mask token: no timm counterpart, unused for segmentation
_BLOCK = re.compile(r"blocks\.(\d+)\.")


def default_indices(depth: int) -> list[int]:
    """Four blocks spread evenly and ending at the last: depth 12 -> [2, 5, 8, 11], 4 -> [0, 1, 2, 3]."""
    return [math.ceil((k + 1) * depth / 4) - 1 for k in range(4)]


class _ResidualConvUnit(nn.Module):
    """ReLU, 3x3 conv, ReLU, 3x3 conv, plus the input (not in-place: the input is reused)."""

    def __init__(self, features: int):
        super().__init__()
        self.conv1 = nn.Conv2d(features, features, 3, padding=1)
        self.conv2 = nn.Conv2d(features, features, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv2(F.relu(self.conv1(F.relu(x))))


class _FusionBlock(nn.Module):
    """Adds a refined lateral map (when the block has one) to the coarser path, refines, resizes, projects."""

    def __init__(self, features: int, lateral: bool):
        super().__init__()
        self.lateral = _ResidualConvUnit(features) if lateral else None
        self.refine = _ResidualConvUnit(features)
        self.out_conv = nn.Conv2d(features, features, 1)

    def forward(self, path: Tensor, lateral: Tensor | None, size: tuple[int, int]) -> Tensor:
        if self.lateral is not None:
            path = path + self.lateral(lateral)
        path = F.interpolate(self.refine(path), size=size, mode="bilinear", align_corners=True)
        return self.out_conv(path)


class DPTHead(nn.Module):
    """Four same-resolution ViT maps -> a four-level pyramid -> fused top-down -> class logits."""

    def __init__(self, in_channels: int, num_classes: int, features: int = 64,
                 out_channels: tuple[int, int, int, int] = (48, 96, 192, 384)):
        super().__init__()
        c = out_channels
        self.project = nn.ModuleList(nn.Conv2d(in_channels, ch, 1) for ch in c)
        self.resample = nn.ModuleList([
            nn.ConvTranspose2d(c[0], c[0], 4, stride=4),
            nn.ConvTranspose2d(c[1], c[1], 2, stride=2),
            nn.Identity(),
            nn.Conv2d(c[3], c[3], 3, stride=2, padding=1),
        ])
        self.to_features = nn.ModuleList(nn.Conv2d(ch, features, 3, padding=1, bias=False) for ch in c)
        # fuse[i] ends at level i's output size; the coarsest (fuse[3]) has no lateral input
        self.fuse = nn.ModuleList(_FusionBlock(features, lateral=i < 3) for i in range(4))
        self.output = nn.Sequential(nn.Conv2d(features, features, 3, padding=1), nn.ReLU(),
                                    nn.Conv2d(features, num_classes, 1))

    def forward(self, maps: list[Tensor], size: tuple[int, int]) -> Tensor:
        levels = [conv(resample(project(m))) for m, project, resample, conv
                  in zip(maps, self.project, self.resample, self.to_features)]
        sizes = [tuple(t.shape[-2:]) for t in levels]
        finest = (2 * sizes[0][0], 2 * sizes[0][1])
        path = self.fuse[3](levels[3], None, sizes[2])
        for i in (2, 1, 0):
            path = self.fuse[i](path, levels[i], sizes[i - 1] if i else finest)
        return F.interpolate(self.output(path), size=size, mode="bilinear", align_corners=True)


class DinoDPT(nn.Module):
    """DINOv2 ViT + DPT head with :class:`~imlib.study_a.models.StudyANet`'s interface (forward, perturb,
    param groups), so the Study A hosts and the engine drive it unchanged."""

    def __init__(self, backbone: nn.Module, head: DPTHead, indices: list[int], num_classes: int):
        super().__init__()
        self.backbone = backbone
        self.head = head
        self.indices = list(indices)
        self.num_classes = num_classes
        self.encoder_name = "dinov2"
        self.output_stride = PATCH  # the patch size: inputs must be multiples of it
        self.perturbed_features: tuple[int, ...] = (0, 1, 2, 3)  # the head reads all four maps

    def check_size(self, height: int, width: int) -> None:
        if height % PATCH or width % PATCH:
            raise ValueError(
                f"input size {height}x{width} is not divisible by the patch size {PATCH}: training crops and "
                f"evaluation windows must be multiples of {PATCH} (e.g. 798 = 57 x 14, 800 -> 798)")

    def features(self, x: Tensor) -> list[Tensor]:
        """The four normed block outputs as (B, 384, H/14, W/14); shallow nets may repeat a block."""
        unique = sorted(set(self.indices))
        maps = self.backbone.forward_intermediates(x, indices=unique, norm=True, stop_early=True,
                                                   intermediates_only=True)
        by_index = dict(zip(unique, maps))
        return [by_index[i] for i in self.indices]

    def forward(self, x: Tensor, extras: bool = False, perturb: Perturb | None = None) -> Tensor | SegOutput:
        """Logits (B', C, H, W) at the input size, or with ``extras`` ``SegOutput(logits, None, rep)``, rep
        being the last (deepest) of the four maps the head reads, (B', dim, H/14, W/14) (SegKC's features).

        ``perturb`` maps the four feature maps to a new list before the head (V2's feature dropout); it may
        grow the batch (clean and perturbed copies), so B' >= B."""
        h, w = x.shape[-2:]
        self.check_size(h, w)
        maps = self.features(x)
        if perturb is not None:
            maps = list(perturb(maps))
        logits = self.head(maps, (h, w))
        return SegOutput(logits, None, maps[-1]) if extras else logits

    def param_groups(self, lr: float, head_lr_multiplier: float, weight_decay: float) -> list[dict]:
        """Backbone at ``lr``, head at ``lr * head_lr_multiplier`` (V2's two AdamW groups);
        ``lr_multiplier`` is kept so a poly schedule can rescale the base LR."""
        return [
            {"params": list(self.backbone.parameters()), "lr": lr, "weight_decay": weight_decay,
             "lr_multiplier": 1.0, "name": "encoder"},
            {"params": list(self.head.parameters()), "lr": lr * head_lr_multiplier, "weight_decay": weight_decay,
             "lr_multiplier": head_lr_multiplier, "name": "head"},
        ]


def build_dinov2_dpt(num_classes: int = 19, depth: int = 12, features: int | None = None,
                     out_channels: tuple[int, int, int, int] | None = None,
                     indices: list[int] | None = None, size: str = "s") -> DinoDPT:
    """ViT-S/14 (``size="s"``) or ViT-B/14 (``"b"``) DINOv2 layout, random init (weights come only from
    :func:`load_dinov2_weights`); ``features`` and ``out_channels`` default to V2's for the size.

    ``depth`` < 12 gives the smoke-scale ViT. ``indices`` default to four evenly spread blocks ending at the
    last; blocks after the last index would get no gradient (a DDP error without find_unused_parameters)."""
    if size not in SIZES:
        raise ValueError(f"DINOv2 size must be one of {sorted(SIZES)}, got {size!r}")
    timm_name, default_features, default_channels = SIZES[size]
    indices = default_indices(depth) if indices is None else list(indices)
    if len(indices) != 4 or not all(0 <= i < depth for i in indices):
        raise ValueError(f"indices must be four block indices in [0, {depth}), got {indices}")
    backbone = timm.create_model(timm_name, pretrained=False, dynamic_img_size=True, depth=depth, num_classes=0)
    head = DPTHead(backbone.embed_dim, num_classes, features or default_features,
                   tuple(out_channels or default_channels))
    net = DinoDPT(backbone, head, indices, num_classes)
    net.encoder_name = f"dinov2-{size}14" + (f"-d{depth}" if depth != 12 else "")
    return net


def is_dinov2(encoder: str) -> bool:
    return ENCODER_NAME.fullmatch(encoder) is not None


def build_by_name(encoder: str, num_classes: int = 19) -> DinoDPT:
    """``dinov2-s14`` / ``dinov2-b14`` (the full 12 blocks) or ``dinov2-s14-d4`` (a 4-block smoke ViT)."""
    match = ENCODER_NAME.fullmatch(encoder)
    if match is None:
        raise ValueError(f"{encoder!r} is not a DINOv2 encoder name (dinov2-s14, dinov2-b14, or with -d<depth>)")
    depth = int(match.group(2) or 12)
    if not 1 <= depth <= 12:
        raise ValueError(f"{encoder!r}: depth must be 1..12")
    return build_dinov2_dpt(num_classes, depth=depth, size=match.group(1))


def _size(net: DinoDPT) -> str:
    return "b" if net.backbone.embed_dim == 768 else "s"


def load_dinov2_weights(net: DinoDPT, path: str | Path, allow_truncate: bool = False) -> dict:
    """Load Meta's ``dinov2_vits14_pretrain.pth`` (the file V2's README names; ``dinov2_vitb14_pretrain.pth``
    for a ViT-B) into ``net.backbone``.

    Key map, Meta -> timm ``vit_small_patch14_dinov2`` (checked against timm 1.0.31's state dict): every
    backbone key keeps its name (``cls_token``, ``pos_embed`` (1, 1370, 384) = 37x37+1 at img_size 518,
    ``patch_embed.proj.*``, ``blocks.N.{norm1, attn.qkv, attn.proj, ls1.gamma, norm2, mlp.fc1, mlp.fc2,
    ls2.gamma}.*``, ``norm.*``); ``mask_token`` is dropped. Blocks N >= the net's depth are skipped only
    with ``allow_truncate`` (smoke-scale nets). Strict, because a silently partial load leaves layers
    random: anything else missing, unexpected or mis-shaped is a ValueError naming the file.

    Returns {"file", "loaded" (tensors copied), "skipped" (dropped keys)}."""
    path = Path(path)
    state = read_state_dict(path, f"DINOv2 file (expected Meta's dinov2_vit{_size(net)}14_pretrain.pth)")
    depth = len(net.backbone.blocks)
    deeper = sorted(k for k in state if (m := _BLOCK.match(k)) and int(m.group(1)) >= depth)
    if deeper and not allow_truncate:
        raise ValueError(f"{path}: holds blocks beyond the net's depth {depth} ({key_listing(deeper)}); "
                         "pass allow_truncate=True to load only the first blocks")
    skipped = sorted(k for k in state if k in DROPPED_KEYS) + deeper
    state = {k: v for k, v in state.items() if k not in skipped}
    problems = fit_problems(net.backbone.state_dict(), state)
    if problems:
        raise ValueError(f"{path}: does not fit the DINOv2-{_size(net).upper()}/14 backbone ({'; '.join(problems)}); "
                         f"expected Meta's dinov2_vit{_size(net)}14_pretrain.pth layout")
    net.backbone.load_state_dict(state, strict=True)
    return {"file": str(path), "loaded": len(state), "skipped": skipped}
