"""FixMatch for segmentation (the UniMatch repository's variant; Sohn et al. 2020).

The model is its own teacher: its prediction on the weak view (same train-mode forward as the
labeled batch, detached) is the pseudo-label; a strong view (colour jitter, grey, blur, CutMix with
a partner batch whose pseudo-labels come from an extra eval-mode forward) is trained on the pixels
whose confidence reaches ``tau``. Loss = (L_sup + L_u) / 2.
"""
from __future__ import annotations

import torch

from imlib.methods.options import Option
from imlib.semi.objective import SemiObjective
from imlib.semi.pseudo import confident_loss
from imlib.semi.views import mix


class FixMatch(SemiObjective):
    OPTIONS = {"tau": Option(0.95, "FixMatch/UniMatch default outside Cityscapes (UniMatch's Cityscapes 0 offsets "
                             "the under-confidence of a pre-trained ResNet at 801 px crops, which a from-scratch "
                             "U-Net does not share)")}

    def loss(self, model, step, total_steps):
        xl, yl = self.labeled_batch()
        xu, xm = self.unlabeled_batch(), self.unlabeled_batch("partner")
        lab_m, conf_m = self.pseudo(self.predict_eval(model, xm))
        logits_l, logits_u = model(torch.cat([xl, xu])).split([len(xl), len(xu)])
        lab_u, conf_u = self.pseudo(logits_u)
        box = self.boxes(xu)
        xs = mix(self.strong(xu), self.strong(xm), box)
        loss_x = self.supervised(logits_l, yl)
        loss_s = confident_loss(model(xs), mix(lab_u, lab_m, box), mix(conf_u, conf_m, box),
                                self.options["tau"], self.task)
        confident = (conf_u >= self.options["tau"]).float().mean()
        return (loss_x + loss_s) / 2, {"sup": loss_x, "unsup": loss_s, "confident": confident}
