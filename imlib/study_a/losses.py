"""The pixel losses the Study A hosts share: OHEM for the labeled term, masked CE for the unlabeled ones,
and variant O's online inconsistency mask.

All work in float32 whatever the autocast dtype of the logits (the hosts' losses are fp32 in their code).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from imlib.study_a.batches import IGNORE

OHEM_THRESH = 0.7  # every host's Cityscapes criterion: ProbOhemCrossEntropy2d(thresh=0.7)


def ohem_cross_entropy(logits: torch.Tensor, target: torch.Tensor, thresh: float = OHEM_THRESH,
                       min_kept: int = 100000, ignore_index: int = IGNORE) -> torch.Tensor:
    """The hosts' ``ProbOhemCrossEntropy2d`` (UniMatch util/ohem.py; U2PL and iMAS the same): mean CE over
    the valid pixels whose target-class probability is at most max(thresh, the ``min_kept``-th smallest
    such probability), so at least ``min_kept`` of the hardest pixels stay in (all when fewer are valid).

    ``min_kept`` counts pixels of this call's batch (per GPU, as the hosts have it). Invalid pixels take
    probability 1, as in the official code, so the k-th value needs no host sync. A batch without a kept
    pixel gives 0 with a graph (the official mean would be NaN). ``min_kept`` 0: the plain threshold.
    """
    logits = logits.float()
    valid = target != ignore_index
    logp = F.log_softmax(logits, 1).gather(1, target.long().where(valid, 0).unsqueeze(1)).squeeze(1)
    prob = logp.detach().exp().masked_fill(~valid, 1.0)
    threshold = torch.tensor(thresh, device=prob.device)
    if min_kept > 0:
        kth = prob.flatten().kthvalue(min(min_kept, prob.numel())).values
        threshold = torch.maximum(threshold, kth)
    kept = valid & (prob <= threshold)
    return -(logp * kept).sum() / kept.sum().clamp_min(1)


def masked_ce(logits: torch.Tensor, target: torch.Tensor, keep: torch.Tensor,
              denominator: torch.Tensor | int) -> torch.Tensor:
    """CE summed over the ``keep`` pixels divided by ``denominator`` (UniMatch: the pixels that are not
    padding, so unconfident pixels lower the loss instead of making it noisy). A zero denominator gives 0."""
    ce = F.cross_entropy(logits.float(), target.long().where(keep, 0), reduction="none")
    den = denominator.clamp_min(1) if torch.is_tensor(denominator) else max(int(denominator), 1)
    return (ce * keep).sum() / den


def per_image_ce(logits: torch.Tensor, target: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """(B,): each image's CE summed over its ``keep`` pixels divided by all its pixels (iMAS's
    ``loss.mean(dim=[1, 2])`` with the dropped pixels at 0), so that a per-image weight can scale it."""
    ce = F.cross_entropy(logits.float(), target.long().where(keep, 0), reduction="none")
    return (ce * keep).flatten(1).mean(1)


def online_im_mask(logits_a: torch.Tensor, logits_b: torch.Tensor) -> torch.Tensor:
    """Variant O: (B, H, W) bool, True where the two predictors' argmax maps differ."""
    return logits_a.argmax(1) != logits_b.argmax(1)
