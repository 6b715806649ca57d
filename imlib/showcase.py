"""Material for the figure notebooks: teachers, one worked IM example, a run's generation showcase.

Kept out of the notebooks so they stay thin (parameters, a call, a figure) and so tests cover it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from pathlib import Path

from imlib.config import RunConfig, make_config
from imlib.engine import predict_labels, predict_probs
from imlib.im import apply_im, inconsistency_mask
from imlib.methods.common import Context, Member
from imlib.results import decode_array


def teachers(dataset: str, n: int = 2, seed: int = 0, preset: str = "smoke", work_dir: str = "../data/work",
             progress: bool = False, **overrides) -> tuple[Context, list[Member]]:
    """The run's top-n LDT models (trained now, or reused from ``work_dir`` if a batch trained them)."""
    cfg = make_config(preset, dataset=dataset, method="ldt", seed=seed, work_dir=work_dir,
                      **{"n_models": max(n, 2), "n_teachers": 2, **overrides})
    ctx = Context(cfg, progress=progress)
    members = ctx.rank(ctx.train_members("ldt", ctx.ds.labeled, cfg.n_models, reference=True))
    return ctx, members[:n]


@dataclass
class IMExample:
    image: np.ndarray  # (C, H, W) uint8
    truth: np.ndarray  # (L, H, W) the hidden ground truth
    teacher_labels: list[np.ndarray]  # each teacher's discretised prediction (L, H, W)
    label: np.ndarray  # the pseudo-label after masking (L, H, W)
    mask: np.ndarray  # (H, W) bool
    blacked: np.ndarray  # the student's input (C, H, W)


def im_example(ctx: Context, models: list[Member], index: int) -> IMExample:
    """IM on one unlabeled image of ``ctx``'s dataset with the given teachers."""
    x = ctx.ds.unlabeled.images[index:index + 1]
    probs = torch.stack([predict_probs(m.model, x, ctx.task) for m in models])
    res = inconsistency_mask(probs, ctx.task)
    blacked, label = apply_im(x, res.label, res.mask, ctx.task)
    own = [predict_labels(m.model, x, ctx.task)[0].cpu().numpy() for m in models]
    return IMExample(x[0].cpu().numpy(), ctx.ds.unlabeled.labels[index].cpu().numpy(), own,
                     label[0].cpu().numpy(), res.mask[0].cpu().numpy(), blacked[0].cpu().numpy())


def typical_example(ctx: Context, models: list[Member], candidates: int = 32, quantile: float = 0.75) -> int:
    """Index of an instructive unlabeled image (among the first ``candidates``): of those where the
    teachers agree on some foreground, the one whose mask size is at the given quantile. (The largest
    mask is usually a degenerate case where one teacher fails outright.)"""
    x = ctx.ds.unlabeled.images[:candidates]
    probs = torch.stack([predict_probs(m.model, x, ctx.task) for m in models])
    res = inconsistency_mask(probs, ctx.task)
    area = res.mask.flatten(1).float().mean(1)
    agreed = res.label.flatten(1).float().mean(1)
    valid = (agreed > 0.02) if ctx.task.kind != "multiclass" else torch.ones_like(area, dtype=torch.bool)
    idx = torch.nonzero(valid).flatten() if valid.any() else torch.arange(len(area), device=area.device)
    order = idx[area[idx].argsort()]
    return int(order[min(len(order) - 1, int(quantile * len(order)))])


def generation_showcase(record: dict, which: int = 0) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Masks and pseudo-labels of showcase image ``which`` for every generation of an IM/ME record."""
    masks, labels = [], []
    for g in record["generations"]:
        shown = (g.get("pseudo_labels") or {}).get("showcase")
        if not shown:
            continue
        masks.append(decode_array(shown["mask"])[which].astype(bool))
        labels.append(decode_array(shown["label"])[which])
    if not masks:
        raise ValueError(f"run {record['run_id']} has no generation showcase (not an IM or ME run?)")
    return masks, labels


def selected_model(record: dict) -> tuple[Context, torch.nn.Module | None]:
    """The run's dataset context and its headline model, or None when its weights are not on this
    machine (records are committed, checkpoints are not)."""
    cfg = RunConfig(**record["config"])
    ctx = Context(cfg, progress=False)
    entry = next(m for g in record["generations"] for m in g["members"] if m["name"] == record["result"]["model"])
    path = Path(entry.get("checkpoint", ""))
    if not entry.get("checkpoint") or not path.exists():
        return ctx, None
    model = ctx.build().to(ctx.device)
    model.load_state_dict(torch.load(path, map_location=ctx.device, weights_only=True)["state"])
    return ctx, model.eval()
