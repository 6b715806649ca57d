"""FPL, Fuzzy Positive Learning (Qiao et al., CVPR 2023), on a mean teacher (its AEL variant).

FPL replaces the pseudo-label cross-entropy. Per pixel, from the teacher's class distribution:

* fuzzy positive assignment (FPA): the smallest k in {1, ..., max_k} whose top-k cumulative
  probability reaches ``tau`` (0.9), else max_k; the top-k classes are the positive set P. This is
  the paper's definition (the official code tests the top-(k+1) sum, an off-by-one). k is capped at
  K - 1 so that a negative class always remains;
* fuzzy positive regularisation (FPR): softplus(logsumexp_{c in P}(-z_c) + logsumexp_{c not in P}(z_c)),
  a ranking loss that asks every positive logit to exceed every negative one, weighted per pixel by
  the "concave" weight log(1 + s (m - p_{k+1})) / log(1 + s m), m = mean of the top-(k+1)
  probabilities, s = 50, clipped to [0, 1];
* every pixel is also weighted by the teacher's confidence, conf^gamma / sum over the batch of
  conf^gamma, gamma = 2 (official AEL+FPL ``Criterion_cons``: ``conf ** gamma`` normalised by its sum);
* the term is rescaled by the detached ratio (plain top-1 pseudo-label loss) / (unweighted mean of the
  concave-weighted FPR), the official ``weight_balance``.

As in the official AEL+FPL loop, the FPL term is applied twice: between student and teacher on the
unlabeled batch (the weak view CutMix-ed with a partner batch) and on the labeled batch (the
student's prediction against the teacher's, official ``loss_consistency1``);
L = L_sup + w (L_fpl_labeled + L_fpl_unlabeled), w = 1.

The teacher is an EMA (0.99) of the student's *parameters* only and predicts in *train* mode (official:
``model_teacher.train()`` for the whole epoch, EMA over ``parameters()``): its BatchNorm uses the
batch's statistics, and its own running statistics, updated by those forwards (labeled batch, then
unlabeled batch, as the official), are what it is validated with.

Kept different: AEL's class-balanced pixel sampling (``cons.sample``) and adaptive CutMix/copy-paste
belong to AEL, not FPL, and are left out; the labeled and unlabeled batches share one student forward
(the library's convention; the official runs them separately).
For binary and multi-label tasks every channel is a two-class problem (logits (0, z)), so P is the
top class and FPR is a confidence-weighted logistic loss (the weight vanishes at p = 0.5); the
confidence weight is normalised per channel.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from imlib.losses import activate, pixel_loss
from imlib.methods.options import Option
from imlib.semi.objective import MeanTeacherObjective
from imlib.semi.pseudo import class_groups, group_logits, label_and_confidence
from imlib.semi.views import mix


def fuzzy_positive_sets(probs: torch.Tensor, tau: float = 0.9, max_k: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    """Probabilities (B, K, H, W) -> (positive mask (B, K, H, W) bool, k (B, H, W))."""
    sorted_p, order = probs.sort(1, descending=True)
    kmax = max(1, min(max_k, probs.shape[1] - 1))
    cum = sorted_p.cumsum(1)
    k = 1 + (cum[:, : kmax - 1] < tau).sum(1)
    rank = torch.empty_like(order).scatter_(1, order, torch.arange(probs.shape[1], device=probs.device)
                                            .view(1, -1, 1, 1).expand_as(order))
    return rank < k[:, None], k


def fpr_loss(logits: torch.Tensor, positive: torch.Tensor) -> torch.Tensor:
    """Per-pixel ranking loss (B, H, W): softplus(logsumexp_P(-z) + logsumexp_notP(z))."""
    neg_inf = torch.finfo(logits.dtype).min
    pos = torch.where(positive, -logits, neg_inf).logsumexp(1)
    neg = torch.where(positive, neg_inf, logits).logsumexp(1)
    return F.softplus(pos + neg)


def concave_weight(probs: torch.Tensor, k: torch.Tensor, scale: float = 50.0) -> torch.Tensor:
    """log(1 + s (m - p_{k+1})) / log(1 + s m), m = mean of the top-(k+1) probabilities; in [0, 1]."""
    sorted_p = probs.sort(1, descending=True).values
    idx = k.clamp_max(probs.shape[1] - 1)[:, None]
    p_next = sorted_p.gather(1, idx)[:, 0]
    m = sorted_p.cumsum(1).gather(1, idx)[:, 0] / (idx[:, 0] + 1)
    return (torch.log1p(scale * (m - p_next)) / torch.log1p(scale * m).clamp_min(1e-8)).clamp(0, 1)


def fpl_loss(logits: torch.Tensor, teacher_probs: torch.Tensor, task, tau: float = 0.9, max_k: int = 3,
             scale: float = 50.0, gamma: float = 0.0) -> torch.Tensor:
    """FPA + concave-weighted FPR over the class groups, each pixel weighted by conf^gamma / sum conf^gamma
    (conf = the teacher's top probability; gamma 0: the plain mean), times the detached ratio of the
    plain top-1 pseudo-label loss to the unweighted mean of the concave-weighted FPR (official
    ``weight_balance``; with gamma 0 the value equals the plain loss)."""
    weighted, plain_fpr = [], []
    for probs, z in zip(class_groups(teacher_probs.float(), task), group_logits(logits.float(), task)):
        positive, k = fuzzy_positive_sets(probs, tau, max_k)
        term = concave_weight(probs, k, scale) * fpr_loss(z, positive)  # (B, H, W)
        conf = probs.max(1).values ** gamma
        weighted.append((conf / conf.sum().clamp_min(1e-12) * term).sum())
        plain_fpr.append(term.mean())
    fpr = torch.stack(weighted).mean()
    label, _ = label_and_confidence(teacher_probs, task)
    plain = pixel_loss(logits, label, task).mean()
    return fpr * (plain.detach() / torch.stack(plain_fpr).mean().detach().clamp_min(1e-8))


class FPL(MeanTeacherObjective):
    OPTIONS = {"tau": Option(0.9, "published cumulative-probability threshold"),
               "max_k": Option(3, "published (k in 1..3)"),
               "concave_scale": Option(50.0, "published concave weighting constant"),
               "ema": Option(0.99, "the AEL+FPL mean teacher's published decay"),
               "conf_gamma": Option(2.0, "official AEL+FPL config (criterion.cons.gamma 2): pixel weight "
                                         "conf^gamma / sum conf^gamma"),
               "labeled_consistency": Option(True, "official AEL+FPL: the FPL term also between student and teacher "
                                                   "on the labeled batch (loss_consistency1)"),
               "unsup_weight": Option(1.0, "official consist_weight (default 1), on both FPL terms")}
    EMA_BUFFERS = False  # official: EMA over parameters(); the train-mode teacher keeps its own BN statistics

    @torch.no_grad()
    def teacher_probs(self, images: torch.Tensor) -> torch.Tensor:
        """The teacher's probabilities from a *train-mode* forward (official: ``model_teacher.train()``):
        BatchNorm normalises with the batch's statistics and updates the teacher's own running ones."""
        self.teacher.train()
        return activate(self.teacher(images).float(), self.task)

    def loss(self, model, step, total_steps):
        o = self.options
        xl, yl = self.labeled_batch()
        xu, xm = self.unlabeled_batch(), self.unlabeled_batch("partner")
        pl = self.teacher_probs(xl) if o["labeled_consistency"] else None
        pu, pm = self.teacher_probs(torch.cat([xu, xm])).chunk(2)
        box = self.boxes(xu)
        logits_l, logits_u = model(torch.cat([xl, mix(xu, xm, box)])).split([len(xl), len(xu)])
        args = (self.task, o["tau"], o["max_k"], o["concave_scale"], o["conf_gamma"])
        loss_x = self.supervised(logits_l, yl)
        loss_u = fpl_loss(logits_u, mix(pu, pm, box), *args)
        loss_l = fpl_loss(logits_l, pl, *args) if pl is not None else loss_x.detach() * 0
        total = loss_x + o["unsup_weight"] * (loss_l + loss_u)
        return total, {"sup": loss_x, "unsup": loss_u, "labeled_fpl": loss_l}
