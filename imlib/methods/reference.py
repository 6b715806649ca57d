"""The supervised reference points of Study B: LDT, ALDT, FDT, AFDT.

* LDT: the labeled 10 % only.      * ALDT: the labeled set + 9 augmented copies of each image.
* FDT: the full training set.      * AFDT: the full set + 9 augmented copies (by analogy with ALDT;
                                     the paper does not define it, paper-notes §14.8).

The copies are made once per run with the paper's offline augmentation (batched on the device).
"""
from __future__ import annotations

from imlib.data import SegData
from imlib.data.augment import augmented_copies
from imlib.methods.common import Context

REFERENCES = ("ldt", "aldt", "fdt", "afdt")


def reference_data(ctx: Context, kind: str) -> SegData:
    if kind not in REFERENCES:
        raise ValueError(f"unknown reference {kind!r}; expected one of {REFERENCES}")
    base = ctx.ds.labeled if kind in ("ldt", "aldt") else ctx.ds.train
    if kind in ("aldt", "afdt"):
        return SegData(*augmented_copies(base.images, base.labels, ctx.task.augment, ctx.cfg.aug_copies,
                                         seed=ctx.cfg.data_seed))
    return base


def run(ctx: Context) -> list[dict]:
    kind = ctx.cfg.method
    data = reference_data(ctx, kind)
    ranked = ctx.rank(ctx.train_members(kind, data, ctx.cfg.n_models, reference=True))
    return [ctx.generation_entry(0, ranked, train_images=len(data))]

