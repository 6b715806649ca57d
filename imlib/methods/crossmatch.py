"""CrossMatch (Zhao et al., IEEE JBHI 2024): UniMatch with weak and strong feature-dropout streams
and knowledge distillation between them.

The decoder runs on the encoder features under three perturbations in one batch: none, weak channel
dropout (p 0.25) and strong channel dropout (p 0.75), only the unlabeled half perturbed (official
``need_fp``: decoder batch [labeled, weak, weak-dropout, strong-dropout]); pseudo-labels come from each
stream of the weak view (the teacher forward has its dropout on). Two strong image views with CutMix; the second is also
decoded under both dropouts. The CutMix partner's pseudo-labels (all three streams) come from a no-grad
forward in *eval* mode (BatchNorm running statistics) with the feature dropout still active, as the
official: ``model.eval()`` before the partner forwards, but its ``PertDropout`` keeps its
``nn.Dropout2d`` modules in a plain list, so ``eval()`` never reaches them and they keep dropping.
Feature-dropout masks are drawn from the objective's generator (``channel_dropout``; official:
``nn.Dropout2d``, the global RNG), so a resumed run is bit-identical. Terms:

* L_s1, L_s2: strong views vs the clean weak pseudo-label;
* L_tkd ("teacher" distillation): the perturbed streams (weak view's, and the second strong view's)
  vs the clean pseudo-label;
* L_dkd: the second strong view's perturbed streams vs the weak view's pseudo-label of the same
  perturbation strength;
* L_kd = (1 - eta) L_tkd + eta L_dkd, eta = 0.3; L = (L_sup + 0.25 L_s1 + 0.25 L_s2 + 0.5 L_kd) / 2.

Difference: the original uses Dice losses on unlabeled pixels (medical volumes); here every stream
uses the task's loss like the other baselines, so the comparison isolates the method.
"""
from __future__ import annotations

import torch

from imlib.methods.unimatch import dropout_batch, unimatch_total
from imlib.methods.options import Option
from imlib.semi.objective import SemiObjective, eval_mode
from imlib.semi.pseudo import confident_loss
from imlib.semi.views import mix


def dropout_streams(model, features: list[torch.Tensor], rates: tuple[float, ...],
                    gen: torch.Generator | None = None) -> list[torch.Tensor]:
    """Decode ``features`` once clean and once per dropout rate, in one batch; returns the logits of
    each stream ([clean, rate_1, rate_2, ...]). Dropout masks come from ``gen``."""
    return list(model.decode(dropout_batch(features, rates, gen)).chunk(1 + len(rates)))


class CrossMatch(SemiObjective):
    OPTIONS = {"tau": Option(0.95, "published (0.95)"), "p_weak": Option(0.25, "published weak feature dropout"),
               "p_strong": Option(0.75, "published strong feature dropout"),
               "eta": Option(0.3, "published mix of the two distillations"),
               "weights": Option((0.25, 0.25, 0.5), "UniMatch's weighting, which CrossMatch keeps")}

    @torch.no_grad()
    def partner(self, model, xm: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """The partner batch's (pseudo-label, confidence) of the clean, weak- and strong-dropout streams:
        eval-mode BatchNorm, feature dropout active (the official's behaviour, see the module docstring)."""
        rates = (self.options["p_weak"], self.options["p_strong"])
        with eval_mode(model):
            return [self.pseudo(s) for s in dropout_streams(model, model.encode(xm), rates, self.gen)]

    def loss(self, model, step, total_steps):
        tau, task, o = self.options["tau"], self.task, self.options
        rates = (o["p_weak"], o["p_strong"])
        xl, yl = self.labeled_batch()
        xu, xm = self.unlabeled_batch(), self.unlabeled_batch("partner")
        partner = self.partner(model, xm)
        nl = len(xl)
        feats = model.encode(torch.cat([xl, xu]))
        # official (need_fp): only the unlabeled half is perturbed; the decoder batch is [x, u, weak(u), strong(u)]
        nu = len(xu)
        logits_l, logits_u, weak_fp, strong_fp = model.decode(dropout_batch(feats, rates, self.gen, start=nl)).split(
            [nl, nu, nu, nu])
        pl = [self.pseudo(logits_u), self.pseudo(weak_fp), self.pseudo(strong_fp)]  # clean, weak, strong
        box1, box2 = self.boxes(xu), self.boxes(xu)
        xs1 = mix(self.strong(xu), self.strong(xm), box1)
        xs2 = mix(self.strong(xu), self.strong(xm), box2)
        # both strong views clean, and the second one under each dropout, in one decoder batch
        f2 = model.encode(torch.cat([xs1, xs2]))
        n = len(xs1)
        logits_s1, logits_s2, s2_weak, s2_strong = model.decode(dropout_batch(f2, rates, self.gen, start=n)).split(
            [n, n, n, n])

        def target(i, box):  # stream i's pseudo-label and confidence, CutMix-ed with the partner's
            return mix(pl[i][0], partner[i][0], box), mix(pl[i][1], partner[i][1], box)

        loss_x = self.supervised(logits_l, yl)
        loss_s1 = confident_loss(logits_s1, *target(0, box1), tau, task)
        loss_s2 = confident_loss(logits_s2, *target(0, box2), tau, task)
        tkd = (confident_loss(weak_fp, pl[0][0], pl[0][1], tau, task)
               + confident_loss(strong_fp, pl[0][0], pl[0][1], tau, task)
               + confident_loss(s2_weak, *target(0, box2), tau, task)
               + confident_loss(s2_strong, *target(0, box2), tau, task)) / 4
        dkd = (confident_loss(s2_weak, *target(1, box2), tau, task)
               + confident_loss(s2_strong, *target(2, box2), tau, task)) / 2
        loss_kd = (1 - o["eta"]) * tkd + o["eta"] * dkd
        total = unimatch_total(loss_x, loss_s1, loss_s2, loss_kd, o["weights"])
        return total, {"sup": loss_x, "s1": loss_s1, "s2": loss_s2, "kd": loss_kd,
                       "confident": (pl[0][1] >= tau).float().mean()}
