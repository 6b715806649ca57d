"""UniMatch (Yang et al., CVPR 2023), as its ``unimatch.py`` trains Cityscapes.

One step: the partner batch's pseudo-labels from an eval-mode, no-grad forward; the labeled and weak
unlabeled images in one forward whose features are decoded twice (clean, and after Dropout2d(0.5) on the
features the decoder reads: the feature-perturbation stream); the two strong views (colour jitter,
greyscale, blur, then CutMix p 0.5 with the partner's own strong view) in a second forward. The weak
view's detached prediction labels the weak image; inside a CutMix box the partner's pseudo-label,
confidence and padding are used. Unlabeled CE is kept where conf >= ``conf_thresh`` (0 for Cityscapes) and
divided by the count of non-padding pixels. Loss = (L_sup + 0.25 L_s1 + 0.25 L_s2 + 0.5 L_fp) / 2, L_sup =
OHEM (0.7, 200k).

Deviations: the feature-dropout masks and every view draw from the host's generator (official: the global
RNG and the data loader's); CutMix boxes come from :func:`imlib.semi.views.cutmix_boxes` (area 2–40 %,
aspect 0.3–3.3, log-uniform, any position that fits; official: uniform aspect by rejection sampling).

Variant M: offline IM pixels are treated like unconfident ones (out of the numerator, still in the
non-padding denominator). Variant O (this companion's choice; UniMatch has no EMA teacher): the two
predictions UniMatch computes anyway, the clean weak-view prediction and the feature-perturbed one, give
the online mask (pixels whose argmax differ); the partner's eval-mode forward then also decodes its
perturbed stream, so that pixels pasted by CutMix carry their own mask.
"""
from __future__ import annotations

from collections.abc import Callable

import torch

from imlib.methods.options import Option
from imlib.methods.unimatch import channel_dropout, unimatch_total
from imlib.semi.views import mix, strong_view
from imlib.study_a.batches import LabeledBatch, UnlabeledBatch
from imlib.study_a.hosts.base import Host
from imlib.study_a.losses import masked_ce, online_im_mask
from imlib.study_a.recipe import HostRecipe


class UniMatch(Host):
    key = "unimatch"
    name = "UniMatch"
    partner_batch = True
    online_im = "clean vs feature-perturbed prediction of the weak view (this companion's choice)"
    RECIPE = HostRecipe(lr=0.005, weight_decay=1e-4, head_lr_multiplier=1.0, total_batch=8, crop=800, epochs=240,
                        ohem_min_kept=200000, output_stride=16, atrous_rates=(6, 12, 18), eval_window=800,
                        eval_stride=528, source="LiheYoung/UniMatch unimatch.py, configs/cityscapes.yaml, "
                                            "dataset/semi.py, dataset/transform.py, util/ohem.py")
    OPTIONS = {"conf_thresh": Option(0.0, "configs/cityscapes.yaml conf_thresh (0: every pixel of the weak view)"),
               "fp_dropout": Option(0.5, "published: nn.Dropout2d(0.5) on the low- and high-level features"),
               "weights": Option((0.25, 0.25, 0.5), "published: (L_sup + 0.25 L_s1 + 0.25 L_s2 + 0.5 L_fp) / 2"),
               "cutmix_p": Option(0.5, "published obtain_cutmix_box(p=0.5), one box per strong view"),
               "cutmix_area": Option((0.02, 0.4), "published size_min, size_max (fraction of the crop)")}

    def perturb(self) -> Callable[[list[torch.Tensor]], list[torch.Tensor]]:
        """Features -> the batch twice: as is, then with channel dropout on the features the decoder reads
        (official: both halves of ``torch.cat((c1, nn.Dropout2d(0.5)(c1)))``, labeled images included)."""
        read, p = set(self.net.perturbed_features), self.options["fp_dropout"]
        return lambda feats: [torch.cat([f, channel_dropout(f, p, self.gen) if i in read else f])
                              for i, f in enumerate(feats)]

    def loss(self, labeled: LabeledBatch, unlabeled: UnlabeledBatch | None, partner: UnlabeledBatch | None,
             step: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        o = self.options
        xl, xu, xm = labeled.image, unlabeled.image, partner.image
        # the partner's pseudo-labels: eval mode, no grad (under O also its perturbed stream, for its mask)
        if self.variant == "O":
            clean_m, fp_m = self.predict_eval(self.model, xm, perturb=self.perturb()).chunk(2)
            excl_m = self.excluded(partner, online_im_mask(clean_m, fp_m))
        else:
            clean_m = self.predict_eval(self.model, xm)
            excl_m = self.excluded(partner)
        conf_m, lab_m = clean_m.softmax(1).max(1)

        box1, box2 = self.cutmix_boxes(unlabeled), self.cutmix_boxes(unlabeled)
        xs1 = mix(strong_view(xu, self.gen), strong_view(xm, self.gen), box1)
        xs2 = mix(strong_view(xu, self.gen), strong_view(xm, self.gen), box2)

        nl, nu = len(xl), len(xu)
        clean, fp = self.forward(torch.cat([xl, xu]), perturb=self.perturb()).chunk(2)
        logits_l, logits_w = clean.split([nl, nu])
        logits_fp = fp[nl:]
        logits_s1, logits_s2 = self.forward(torch.cat([xs1, xs2])).chunk(2)

        weak = logits_w.detach().float()
        conf_u, lab_u = weak.softmax(1).max(1)
        excl_u = self.excluded(unlabeled, online_im_mask(weak, logits_fp.detach()) if self.variant == "O" else None)

        def term(logits, lab, conf, excl, pad):
            return masked_ce(logits, lab, (conf >= o["conf_thresh"]) & ~excl, (~pad).sum())

        def mixed(box):
            return (torch.where(box, lab_m, lab_u), torch.where(box, conf_m, conf_u),
                    torch.where(box, excl_m, excl_u), torch.where(box, partner.ignore, unlabeled.ignore))

        sup = self.supervised(logits_l, labeled.label)
        s1 = term(logits_s1, *mixed(box1))
        s2 = term(logits_s2, *mixed(box2))
        fp_loss = term(logits_fp, lab_u, conf_u, excl_u, unlabeled.ignore)
        total = unimatch_total(sup, s1, s2, fp_loss, tuple(o["weights"]))
        parts = {"sup": sup, "s1": s1, "s2": s2, "fp": fp_loss, "excluded": excl_u.float().mean()}
        return total, {k: v.detach() for k, v in parts.items()}
