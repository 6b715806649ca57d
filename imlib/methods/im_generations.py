"""Inconsistency Masks as a method: generations of students trained on masked pairs.

The mask itself is made in :mod:`imlib.im`; this module is the paper's training around it. Per
generation: the teachers' discretised predictions give a pseudo-label and an inconsistency mask; the mask
is optionally eroded/dilated (options ``erode``/``dilate``, paper: 0/0); it is removed from both the image
and the pseudo-label (``mode``: ``blackout`` as the paper, or ``ignore``); for binary tasks the paper's
image filter (``filter``) drops images whose unanimous foreground is not larger than their mask.
"""
from __future__ import annotations

import torch

from imlib.im import apply_im, inconsistency_mask, keep_by_area, morph_mask
from imlib.data.task import Task
from imlib.methods.generational import PairRule, Pairs, run_generations
from imlib.methods.options import Option, one_of
from imlib.methods.shared import Run
from imlib.records import GenerationRecord

def _kernel(k) -> str | None:
    return None if k == 0 or (k > 0 and k % 2 == 1) else "0 (none) or an odd kernel size"


OPTIONS = {
    "mode": Option("blackout", "the paper's: masked image pixels 0, label background / IM class; "
                               "'ignore' labels them 255 instead", one_of("blackout", "ignore")),
    "erode": Option(0, "the released configuration (odd kernel sizes when used)", _kernel),
    "dilate": Option(0, "the released configuration (odd kernel sizes when used)", _kernel),
    "filter": Option(None, "None: the paper's (the image filter on for binary tasks only); true/false forces it",
                     one_of(None, True, False)),
}


def pair_rule(task: Task, options: dict) -> PairRule:
    """IM's rule: the teachers' probabilities -> (masked image, masked pseudo-label, mask, kept?)."""
    use_filter = (task.kind == "binary") if options["filter"] is None else bool(options["filter"])

    def rule(probs: torch.Tensor, images: torch.Tensor) -> Pairs:
        res = inconsistency_mask(probs, task)
        mask = morph_mask(res.mask, options["erode"], options["dilate"])
        keep = (keep_by_area(res.label, res.mask) if use_filter
                else torch.ones(len(images), dtype=torch.bool, device=images.device))
        x, y = apply_im(images, res.label, mask, task, mode=options["mode"])
        return Pairs(x, y, mask, keep)

    return rule


def run(run: Run) -> list[GenerationRecord]:
    return run_generations(run, pair_rule(run.task, run.options))
