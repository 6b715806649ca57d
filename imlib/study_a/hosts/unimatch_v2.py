"""UniMatch V2 (Yang et al., TPAMI 2025), as its ``unimatch_v2.py`` trains Cityscapes with DINOv2-S.

One step: the EMA teacher labels the weak unlabeled view (no grad; its softmax confidence and argmax); two
strong views (colour jitter, greyscale, blur, then CutMix p 0.5 with the *reversed batch*: image i receives a
box of image B-1-i's own strong view, and inside the box the pseudo-label, confidence and padding of B-1-i);
the labeled images in one student forward; both strong views in a second forward with *complementary channel
dropout* on the four ViT feature maps the DPT head reads (:func:`complementary_channel_dropout`). Unlabeled CE
is kept where the teacher's confidence >= 0.95 and divided by the count of non-padding pixels. Loss =
(L_sup + (L_s1 + L_s2) / 2) / 2, L_sup = OHEM (0.7, 200k). AdamW (backbone 5e-6, head x40, weight decay 0.01),
poly LR; after each step the teacher follows the student with d = min(1 - 1/(t+1), 0.996), parameters and
buffers; student and teacher are both evaluated (sliding window 798, stride 532) and the best is reported.

Deviations: the dropout masks, the kept images and every view draw from the host's generator (official: the
global RNG and the data loaders'); CutMix boxes from :func:`imlib.semi.views.cutmix_boxes` (as for UniMatch);
the LR of step t is poly(t) (official: the first step runs at the base LR and the LR set after step t is
poly(t), one step later); the DPT differences are listed in :mod:`imlib.study_a.dpt`.

Variant M: offline IM pixels are treated like unconfident ones (out of the numerator, still in the
non-padding denominator). Variant O (this companion's choice): the EMA teacher's and the student's argmax of
the weak view differ (one extra no-grad student forward per step).
"""
from __future__ import annotations

import torch

from imlib.methods.options import Option
from imlib.semi.views import mix, strong_view
from imlib.study_a.batches import LabeledBatch, UnlabeledBatch
from imlib.study_a.hosts.base import TeacherHost, paste_reversed
from imlib.study_a.losses import masked_ce, online_im_mask
from imlib.study_a.models import Perturb
from imlib.study_a.recipe import HostRecipe


def complementary_channel_dropout(pairs: int, channels: int, gen: torch.Generator, device,
                                  keep_share: float = 0.5) -> torch.Tensor:
    """(2 x pairs, channels) multipliers for a batch made of two halves (strong view 1, strong view 2).

    UniMatch V2's ``comp_drop``: image i of the first half keeps each channel with probability 0.5, scaled
    by 2; image i of the second half gets exactly the complementary channels (mask 2 - m), so the two views
    of one image see disjoint halves of the features. ``int(pairs x keep_share)`` randomly chosen pairs are
    left undropped (mask 1 in both halves)."""
    first = (torch.rand(pairs, channels, generator=gen, device=device) < 0.5).float() * 2.0
    second = 2.0 - first
    kept = torch.randperm(pairs, generator=gen, device=device)[: int(pairs * keep_share)]
    first[kept] = 1.0
    second[kept] = 1.0
    return torch.cat([first, second])


class UniMatchV2(TeacherHost):
    key = "unimatch_v2"
    name = "UniMatch V2"
    online_im = "the EMA teacher's vs the student's argmax of the weak view (this companion's choice)"
    RECIPE = HostRecipe(lr=5e-6, weight_decay=0.01, head_lr_multiplier=40.0, total_batch=8, crop=798, epochs=180,
                        ohem_min_kept=200000, output_stride=14, atrous_rates=None, eval_window=798, eval_stride=532,
                        ema=0.996, ema_buffers=True, optimizer="adamw", encoder="dinov2-s14",
                        source="LiheYoung/UniMatch-V2 unimatch_v2.py, configs/cityscapes.yaml, dataset/semi.py, "
                               "model/semseg/dpt.py, supervised.py (evaluate)")
    OPTIONS = {"conf_thresh": Option(0.95, "configs/cityscapes.yaml conf_thresh"),
               "comp_drop": Option(True, "published: the strong views' forward uses comp_drop=True"),
               "comp_drop_keep_share": Option(0.5, "published: half of the pairs are left undropped "
                                                   "(dropout_prob = 0.5 in model/semseg/dpt.py)"),
               "cutmix_p": Option(0.5, "published obtain_cutmix_box(p=0.5), one box per strong view"),
               "cutmix_area": Option((0.02, 0.4), "published size_min, size_max (fraction of the crop)")}

    def comp_drop(self, pairs: int) -> Perturb | None:
        """The strong views' feature perturbation (None when the option is off)."""
        if not self.options["comp_drop"]:
            return None
        holder: dict[str, torch.Tensor] = {}

        def perturb(maps: list[torch.Tensor]) -> list[torch.Tensor]:
            if "mask" not in holder:
                holder["mask"] = complementary_channel_dropout(pairs, maps[0].shape[1], self.gen, maps[0].device,
                                                               self.options["comp_drop_keep_share"])
            mask = holder["mask"][:, :, None, None]
            return [m * mask.to(m.dtype) for m in maps]

        return perturb

    def loss(self, labeled: LabeledBatch, unlabeled: UnlabeledBatch | None, partner: UnlabeledBatch | None,
             step: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        o = self.options
        xl, xu = labeled.image, unlabeled.image
        weak = self.predict_eval(self.teacher, xu)
        conf_u, lab_u = weak.softmax(1).max(1)
        online = online_im_mask(weak, self.predict_eval(self.net, xu)) if self.variant == "O" else None
        excl_u = self.excluded(unlabeled, online)

        box1, box2 = self.cutmix_boxes(unlabeled), self.cutmix_boxes(unlabeled)
        s1, s2 = strong_view(xu, self.gen), strong_view(xu, self.gen)
        xs1, xs2 = mix(s1, s1.flip(0), box1), mix(s2, s2.flip(0), box2)

        logits_l = self.forward(xl)
        logits_s1, logits_s2 = self.forward(torch.cat([xs1, xs2]), perturb=self.comp_drop(len(xu))).chunk(2)

        def term(logits, box):
            pad = paste_reversed(box, unlabeled.ignore)
            keep = (paste_reversed(box, conf_u) >= o["conf_thresh"]) & ~paste_reversed(box, excl_u)
            return masked_ce(logits, paste_reversed(box, lab_u), keep, (~pad).sum())

        sup = self.supervised(logits_l, labeled.label)
        loss_s1, loss_s2 = term(logits_s1, box1), term(logits_s2, box2)
        unsup = (loss_s1 + loss_s2) / 2
        total = (sup + unsup) / 2
        confident = ((conf_u >= o["conf_thresh"]) & ~unlabeled.ignore).float().sum() / (~unlabeled.ignore).sum().clamp_min(1)
        parts = {"sup": sup, "s1": loss_s1, "s2": loss_s2, "mask_ratio": confident,
                 "excluded": excl_u.float().mean()}
        return total, {k: v.detach() for k, v in parts.items()}
