"""SegKC (Than et al., "Knowledge Consultation for Semi-Supervised Semantic Segmentation", arXiv 2503.10693):
a RE-IMPLEMENTATION FROM THE PAPER'S TEXT. No code of SegKC is public, so nothing here is checked against
the authors' implementation.

What the text gives: Cross Pseudo Supervision (CPS) between two heterogeneous backbones, a larger "senior"
and a smaller "junior" network, both trained on the labeled images; bi-directional Knowledge Consultation
(KC) at the feature level, through lightweight projectors, and at the prediction level; consistency
regularisation. The IM paper's table reports SegKC with DINOv2-S: read here as the junior network.

Everything else is this companion's choice, listed in ``CHOICES`` (printed in the book; the numbers are
also host options, stored in every record). One step, for a labeled batch and an unlabeled batch:

1. one strong view of the unlabeled images (UniMatch's colour jitter, greyscale, blur; CutMix p 0.5 with the
   reversed batch, as UniMatch V2);
2. each network forwards labeled, weak and strong images together (with grad);
3. L_sup: OHEM (0.7, 200k) on each network's labeled logits;
4. L_cps (the consistency regularisation, weak -> strong): each network's strong-view logits learn the
   *other* network's argmax of the weak view where that network's confidence >= 0.95 (inside a CutMix box:
   the reversed batch's label, confidence and padding), CE divided by the non-padding pixels;
5. L_feat (feature KC, :func:`feature_consultation`): a 1x1 projector maps each network's deepest ViT map
   into the other's width; the squared distance between the channel-normalised projection and the other's
   detached map, per pixel, averaged over the labeled and weak images;
6. L_pred (prediction KC, :func:`prediction_consultation`): each network's weak-view softmax is pulled
   towards the other's detached one (KL, temperature 1) on the non-padding unlabeled pixels;
7. loss = sum over both networks of L_sup + L_cps + L_feat + L_pred (weights 1, options).

Both networks are trained with UniMatch V2's recipe (AdamW 5e-6, head x40, weight decay 0.01, poly LR,
180 epochs, crop 798, batch 8 + 8) and both are evaluated; the result is the junior's (``reported_networks``),
the senior's scores are recorded beside it. As an IM teacher, the junior labels.

Variants: M leaves the offline IM out of L_cps and L_pred; O (natural here: two predictors per step) leaves
out the pixels where the two networks' weak-view argmax differ.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from imlib.methods.options import Option
from imlib.semi.views import mix, strong_view
from imlib.study_a.batches import LabeledBatch, UnlabeledBatch, normalize
from imlib.study_a.dpt import DinoDPT, is_dinov2, load_dinov2_weights
from imlib.study_a.hosts.base import Host, paste_reversed
from imlib.study_a.hosts.unimatch_v2 import UniMatchV2
from imlib.study_a.losses import masked_ce, online_im_mask
from imlib.study_a.models import SegOutput, build_segmenter
from imlib.study_a.recipe import HostRecipe

CHOICES = {
    "status": "re-implementation from the text of arXiv 2503.10693; no public code; not checked against the "
              "authors' numbers",
    "networks": "junior = DINOv2-S/14 + DPT (the IM table's backbone), senior = DINOv2-B/14 + DPT (V2's base "
                "configuration); the paper says only 'heterogeneous backbones'",
    "reported": "the junior's best validation mIoU; the senior is evaluated and recorded beside it",
    "recipe": "UniMatch V2's Cityscapes recipe for both networks (AdamW 5e-6, head x40, wd 0.01, poly LR, 180 "
              "epochs, crop 798, 8 + 8 images per step, OHEM 0.7 / 200k, sliding window 798 / 532)",
    "consistency": "read as weak -> strong: the CPS targets come from the weak view and train the strong view "
                   "(one strong view, CutMix with the reversed batch); the paper may mean a separate term",
    "cps": "hard argmax labels of the other network, confidence >= 0.95 (V2's threshold), CE over the "
           "non-padding pixels, weight 1",
    "feature KC": "1x1 conv projectors between the deepest ViT maps (384 <-> 768 channels), squared distance of "
                  "channel-normalised maps to the other's detached map, labeled and weak images, weight 1",
    "prediction KC": "KL(other's detached softmax || own softmax) at temperature 1 on the weak view's "
                     "non-padding pixels, weight 1",
    "total": "the sum over both networks of L_sup + L_cps + L_feat + L_pred; one optimiser over both networks "
             "and the projectors (the projectors at the head LR)",
}


def feature_consultation(projected: Tensor, target: Tensor) -> Tensor:
    """Feature-level KC: the mean over pixels of ||n(projected) - n(target)||^2, n = L2 normalisation over
    channels (so 0 ... 4 whatever the two networks' feature scales); ``target`` is detached, so only the
    consulting side (its network and projector) learns. Maps of different sizes: the projection is resized."""
    if projected.shape[-2:] != target.shape[-2:]:
        projected = F.interpolate(projected, size=target.shape[-2:], mode="bilinear", align_corners=False)
    p = F.normalize(projected.float(), dim=1)
    t = F.normalize(target.detach().float(), dim=1)
    return (p - t).pow(2).sum(1).mean()


def prediction_consultation(logits: Tensor, target_logits: Tensor, keep: Tensor, temperature: float = 1.0) -> Tensor:
    """Prediction-level KC: T^2 x KL(softmax(target / T) || softmax(logits / T)) per pixel, averaged over the
    ``keep`` pixels (0 when none); ``target_logits`` are detached."""
    t = temperature
    log_p = F.log_softmax(logits.float() / t, 1)
    log_q = F.log_softmax(target_logits.detach().float() / t, 1)
    kl = (log_q.exp() * (log_q - log_p)).sum(1)
    return t * t * (kl * keep).sum() / keep.sum().clamp_min(1)


class SeniorConsultant(nn.Module):
    """The senior network and both projectors in one module, so that DDP sees all of their work in one
    forward: senior logits and features, the junior's features projected to the senior's width and the
    senior's projected to the junior's."""

    def __init__(self, senior: DinoDPT, junior_dim: int):
        super().__init__()
        senior_dim = senior.backbone.embed_dim
        self.senior = senior
        self.to_senior = nn.Conv2d(junior_dim, senior_dim, 1)
        self.to_junior = nn.Conv2d(senior_dim, junior_dim, 1)

    def forward(self, x: Tensor, junior_features: Tensor) -> tuple[SegOutput, Tensor, Tensor]:
        out = self.senior(x, extras=True)
        n = len(junior_features)
        return out, self.to_senior(junior_features), self.to_junior(out.rep[:n])


def _dinov2(value: Any) -> str | None:
    return None if isinstance(value, str) and is_dinov2(value) else "a DINOv2 encoder (dinov2-b14, dinov2-s14, -d<N>)"


class SegKC(Host):
    key = "segkc"
    name = "SegKC (re-implementation)"
    online_im = "the junior's vs the senior's argmax of the weak view"
    reported_networks = ("junior",)
    RECIPE = HostRecipe(**{**UniMatchV2.RECIPE.__dict__, "ema": None,
                           "source": "re-implementation from the text of arXiv 2503.10693 (no public code; every "
                                     "chosen value: imlib.study_a.hosts.segkc.CHOICES); schedule and optimiser "
                                     "from UniMatch V2's Cityscapes recipe"})
    OPTIONS = {"senior_encoder": Option("dinov2-b14", "chosen: a heterogeneous pair, DINOv2-B senior and DINOv2-S "
                                                      "junior", _dinov2),
               "senior_weights": Option(None, "a local Meta DINOv2 file for the senior (dinov2_vitb14_pretrain.pth); "
                                              "None: random init"),
               "conf_thresh": Option(0.95, "chosen: UniMatch V2's threshold"),
               "cps_weight": Option(1.0, "chosen (the paper's value is not in its public text)"),
               "feature_weight": Option(1.0, "chosen"),
               "prediction_weight": Option(1.0, "chosen"),
               "temperature": Option(1.0, "chosen: prediction KC at temperature 1"),
               "cutmix_p": Option(0.5, "chosen: UniMatch V2's"),
               "cutmix_area": Option((0.02, 0.4), "chosen: UniMatch V2's")}

    def __init__(self, net: nn.Module, *args, **kwargs):
        super().__init__(net, *args, **kwargs)
        if not isinstance(net, DinoDPT):
            raise ValueError(f"{self.name}: the junior must be a DINOv2 network, got {type(net).__name__}")
        senior = build_segmenter(self.options["senior_encoder"], num_classes=self.num_classes)
        if self.options["senior_weights"]:
            load_dinov2_weights(senior, self.options["senior_weights"])
        self.partner = self.partner_model = SeniorConsultant(senior, net.backbone.embed_dim).to(self.device)

    @classmethod
    def teacher_network(cls) -> str:
        return "junior"

    def extra_param_groups(self, lr: float, head_lr_multiplier: float, weight_decay: float) -> list[dict]:
        groups = self.partner.senior.param_groups(lr, head_lr_multiplier, weight_decay)
        for g in groups:
            g["name"] = "senior-" + g["name"]
        projectors = list(self.partner.to_senior.parameters()) + list(self.partner.to_junior.parameters())
        return groups + [{"params": projectors, "lr": lr * head_lr_multiplier, "weight_decay": weight_decay,
                          "lr_multiplier": head_lr_multiplier, "name": "projectors"}]

    def distribute(self, wrap: Callable[[nn.Module], nn.Module]) -> None:
        self.partner_model = wrap(self.partner)

    def eval_models(self) -> dict[str, nn.Module]:
        return {"junior": self.net, "senior": self.partner.senior}

    def state_dict(self) -> dict[str, Any]:
        return {"partner": self.partner.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.partner.load_state_dict(state["partner"])

    def loss(self, labeled: LabeledBatch, unlabeled: UnlabeledBatch | None, partner: UnlabeledBatch | None,
             step: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        o = self.options
        xl, xu = labeled.image, unlabeled.image
        nl, nu = len(xl), len(xu)
        box = self.cutmix_boxes(unlabeled)
        strong = strong_view(xu, self.gen)
        x = torch.cat([xl, xu, mix(strong, strong.flip(0), box)])

        out_j = self.forward(x, extras=True)
        out_s, junior_to_senior, senior_to_junior = self.partner_model(normalize(x), out_j.rep[: nl + nu])
        lj_l, lj_w, lj_s = out_j.logits.split([nl, nu, nu])
        ls_l, ls_w, ls_s = out_s.logits.split([nl, nu, nu])

        weak_j, weak_s = lj_w.detach().float(), ls_w.detach().float()
        conf_j, lab_j = weak_j.softmax(1).max(1)
        conf_s, lab_s = weak_s.softmax(1).max(1)
        excl = self.excluded(unlabeled, online_im_mask(weak_j, weak_s) if self.variant == "O" else None)

        def pasted(t):
            return paste_reversed(box, t)

        denominator = (~pasted(unlabeled.ignore)).sum()

        def cps(logits, lab, conf):
            keep = (pasted(conf) >= o["conf_thresh"]) & ~pasted(excl)
            return masked_ce(logits, pasted(lab), keep, denominator)

        keep_weak = ~excl  # padding is always excluded
        parts = {
            "sup_junior": self.supervised(lj_l, labeled.label), "sup_senior": self.supervised(ls_l, labeled.label),
            "cps_junior": cps(lj_s, lab_s, conf_s), "cps_senior": cps(ls_s, lab_j, conf_j),
            "feat_junior": feature_consultation(junior_to_senior, out_s.rep[: nl + nu]),
            "feat_senior": feature_consultation(senior_to_junior, out_j.rep[: nl + nu]),
            "pred_junior": prediction_consultation(lj_w, weak_s, keep_weak, o["temperature"]),
            "pred_senior": prediction_consultation(ls_w, weak_j, keep_weak, o["temperature"]),
        }
        total = (parts["sup_junior"] + parts["sup_senior"]
                 + o["cps_weight"] * (parts["cps_junior"] + parts["cps_senior"])
                 + o["feature_weight"] * (parts["feat_junior"] + parts["feat_senior"])
                 + o["prediction_weight"] * (parts["pred_junior"] + parts["pred_senior"]))
        parts["excluded"] = excl.float().mean()
        parts["disagreement"] = (lab_j != lab_s).float().mean()
        return total, {k: v.detach() for k, v in parts.items()}
