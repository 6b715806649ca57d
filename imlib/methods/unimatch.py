"""UniMatch (Yang et al., CVPR 2023): FixMatch with two strong views and a feature-perturbation stream.

The weak view's encoder features are decoded twice in one batch: as they are (the pseudo-label) and
after channel dropout (``Dropout2d(fp_dropout)``; on every feature map the U-Net's decoder reads,
where DeepLabV3+ perturbs its low- and high-level features). Each strong view gets its own CutMix box.
Loss = (L_sup + 0.25 L_s1 + 0.25 L_s2 + 0.5 L_fp) / 2 (unimatch.py).

The dropout masks are drawn from the objective's own generator (``channel_dropout``, the same
distribution and 1 / (1 - p) scaling as ``Dropout2d``; official: ``nn.Dropout2d``, i.e. the global RNG),
so that every random draw of a step is in the checkpointed generator and a resumed run is
bit-identical to an uninterrupted one.
"""
from __future__ import annotations

import torch

from imlib.methods.options import Option
from imlib.semi.objective import SemiObjective
from imlib.semi.pseudo import confident_loss
from imlib.semi.views import mix


def channel_dropout(x: torch.Tensor, p: float, gen: torch.Generator | None = None) -> torch.Tensor:
    """``F.dropout2d(x, p, training=True)`` with its mask drawn from ``gen`` (the global RNG when None):
    each (sample, channel) map is zeroed with probability ``p``, the others scaled by 1 / (1 - p). The
    mask is drawn on the generator's device and moved to the features'."""
    if p <= 0:
        return x
    if p >= 1:
        return torch.zeros_like(x)
    dev = gen.device if gen is not None else x.device
    keep = torch.rand(x.shape[:2], generator=gen, device=dev) >= p
    keep = keep.to(x.dtype) if keep.device == x.device else keep.to(device=x.device, dtype=x.dtype)
    return x * (keep / (1 - p))[..., None, None]


def dropout_batch(features: list[torch.Tensor], rates: tuple[float, ...], gen: torch.Generator | None,
                  start: int = 0) -> list[torch.Tensor]:
    """One decoder batch per feature map: the map, then its samples ``start:`` under each dropout rate
    (masks from ``gen``), so a single decode gives the clean and every perturbed stream."""
    return [torch.cat([f] + [channel_dropout(f[start:], p, gen) for p in rates]) for f in features]


def unimatch_total(sup, s1, s2, fp, weights=(0.25, 0.25, 0.5)):
    """The published weighting: (L_sup + w1 L_s1 + w2 L_s2 + w3 L_fp) / 2."""
    return (sup + weights[0] * s1 + weights[1] * s2 + weights[2] * fp) / 2


class UniMatch(SemiObjective):
    OPTIONS = {"tau": Option(0.95, "as FixMatch"),
               "fp_dropout": Option(0.5, "published (Dropout2d 0.5), applied to every feature map the U-Net "
                                         "decoder reads"),
               "weights": Option((0.25, 0.25, 0.5), "published: (L_sup + 0.25 L_s1 + 0.25 L_s2 + 0.5 L_fp) / 2")}

    def loss(self, model, step, total_steps):
        tau, task = self.options["tau"], self.task
        xl, yl = self.labeled_batch()
        xu, xm = self.unlabeled_batch(), self.unlabeled_batch("partner")
        lab_m, conf_m = self.pseudo(self.predict_eval(model, xm))
        nl, nu = len(xl), len(xu)
        feats = model.encode(torch.cat([xl, xu]))
        out = model.decode(dropout_batch(feats, (self.options["fp_dropout"],), self.gen, start=nl))
        logits_l, logits_u, logits_fp = out.split([nl, nu, nu])
        lab_u, conf_u = self.pseudo(logits_u)
        box1, box2 = self.boxes(xu), self.boxes(xu)
        xs1 = mix(self.strong(xu), self.strong(xm), box1)
        xs2 = mix(self.strong(xu), self.strong(xm), box2)
        logits_s1, logits_s2 = model(torch.cat([xs1, xs2])).chunk(2)
        loss_x = self.supervised(logits_l, yl)
        loss_s1 = confident_loss(logits_s1, mix(lab_u, lab_m, box1), mix(conf_u, conf_m, box1), tau, task)
        loss_s2 = confident_loss(logits_s2, mix(lab_u, lab_m, box2), mix(conf_u, conf_m, box2), tau, task)
        loss_fp = confident_loss(logits_fp, lab_u, conf_u, tau, task)
        total = unimatch_total(loss_x, loss_s1, loss_s2, loss_fp, self.options["weights"])
        return total, {"sup": loss_x, "s1": loss_s1, "s2": loss_s2, "fp": loss_fp,
                       "confident": (conf_u >= tau).float().mean()}
