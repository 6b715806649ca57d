"""Inconsistency Masks, generational (the paper's method; the mask itself lives in ``imlib.im``).

Per generation: the teachers' discretised predictions give a pseudo-label and an inconsistency mask;
the mask is optionally eroded/dilated (``im_erode``/``im_dilate``, paper: 0/0); it is removed from
both the image and the pseudo-label (``im_mode``: ``blackout`` as the paper, or ``ignore``); for
binary tasks the paper's image filter (``im_filter``) drops images whose unanimous foreground is not
larger than their mask.
"""
from __future__ import annotations

import torch

from imlib.im import apply_im, inconsistency_mask, keep_by_area, morph_mask
from imlib.methods.common import Context
from imlib.methods.generational import run_generational


def run(ctx: Context) -> list[dict]:
    cfg, task = ctx.cfg, ctx.task
    use_filter = (task.kind == "binary") if cfg.im_filter is None else cfg.im_filter

    def rule(probs: torch.Tensor, images: torch.Tensor):
        res = inconsistency_mask(probs, task)
        mask = morph_mask(res.mask, cfg.im_erode, cfg.im_dilate)
        keep = keep_by_area(res.label, res.mask) if use_filter else torch.ones(len(images), dtype=torch.bool,
                                                                               device=images.device)
        x, y = apply_im(images, res.label, mask, task, mode=cfg.im_mode)
        return x, y, mask, keep

    return run_generational(ctx, rule)
