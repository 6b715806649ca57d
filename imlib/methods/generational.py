"""The generational self-training loop shared by Model Ensemble and IM (paper-notes §1.6).

Generation 0 is the run's LDT models. In every generation g >= 1 the top-n models of generation
g - 1 (ranked on validation) are the teachers; they label every unlabeled image once; a method-
specific rule turns their predictions into (image, pseudo-label) pairs; K students are trained from
scratch on those pairs plus the labeled set (added once, no oversampling); the top-n students become
the next teachers.
"""
from __future__ import annotations

from collections.abc import Callable

import torch

from imlib.data import SegData
from imlib.engine import predict_probs
from imlib.results import encode_array
from imlib.methods.common import Context, Member

# (teacher probabilities (n, B, C, H, W), images (B, C, H, W)) -> (images, labels, mask (B, H, W), keep (B,))
PairRule = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]]


SHOWCASE = 3  # unlabeled images whose mask and pseudo-label every generation records (for figures)


def build_pairs(ctx: Context, teachers: list[Member], rule: PairRule, chunk: int = 64) -> tuple[SegData, dict]:
    """Pseudo-labeled pairs for every unlabeled image, in chunks (teacher outputs never all in memory),
    statistics of their quality against the hidden true labels (diagnostics only), and the mask and
    pseudo-label of the first ``SHOWCASE`` unlabeled images (before filtering) for the figures."""
    unl = ctx.ds.unlabeled
    imgs, labs = [], []
    showcase = {}
    masked = agree = counted = kept = 0
    for s in range(0, len(unl), chunk):
        x, truth = unl.images[s:s + chunk], unl.labels[s:s + chunk]
        probs = torch.stack([predict_probs(t.model, x, ctx.task, amp=ctx.cfg.amp) for t in teachers])
        xi, yl, mask, keep = rule(probs, x)
        if s == 0:
            k = min(SHOWCASE, len(x))
            showcase = {"unlabeled_index": list(range(k)), "mask": encode_array(mask[:k]),
                        "label": encode_array(yl[:k]), "kept": keep[:k].tolist()}
        xi, yl, mask, truth = xi[keep], yl[keep], mask[keep], truth[keep]
        imgs.append(xi)
        labs.append(yl)
        kept += int(keep.sum())
        masked += int(mask.sum())
        counted += mask.numel()
        valid = ~mask[:, None].expand_as(yl)
        agree += int(((yl == truth) & valid).all(1).sum())
    stats = {"unlabeled": len(unl), "kept": kept,
             "mask_fraction": masked / max(counted, 1),
             "pseudo_label_accuracy": agree / max(counted - masked, 1), "showcase": showcase}
    return SegData(torch.cat(imgs), torch.cat(labs)), stats


def run_generational(ctx: Context, rule: PairRule) -> list[dict]:
    cfg = ctx.cfg
    ldt = ctx.rank(ctx.train_members("ldt", ctx.ds.labeled, cfg.n_models, reference=True))
    generations = [ctx.generation_entry(0, ldt, role="teachers (LDT)")]
    teachers = ldt[: cfg.n_teachers]
    for g in range(1, cfg.generations + 1):
        pairs, stats = build_pairs(ctx, teachers, rule)
        data = SegData.cat([pairs, ctx.ds.labeled])
        students = ctx.rank(ctx.train_members(f"{cfg.method}-g{g}", data, cfg.n_students, reference=False))
        generations.append(ctx.generation_entry(g, students, teachers=[t.name for t in teachers],
                                                train_images=len(data), pseudo_labels=stats))
        teachers = students[: cfg.n_teachers]
    return generations
