"""iMAS, instance-specific model-adaptive supervision (Zhao et al., CVPR 2023), as its ``train_semi.py``
trains Cityscapes (exps/citys_semi*/config_semi.yaml, the os16 configuration: ASPP 6/12/18, 4 images per
GPU x 4; the closer match to smp and to the IM table's iMAS numbers than the os8 one).

One step: an eval-mode, no-grad forward of the student and of the EMA teacher (0.996, parameters and BN
statistics) on the weak view; the teacher's argmax and confidence are the pseudo-label; each image's
hardness (:func:`imlib.methods.imas.hardness`: the class-weighted IoU of the two discrete maps, class 0
left out as the official ``flag_cal_iou_ignore_bg`` has it, times each side's fraction of pixels with
confidence >= 0.7; larger = easier) drives

* the intensity view: two RandAugment-like operations blended with the weak image by the hardness;
* CutMix of the weak images, triggered for the batch with probability = mean hardness: the hardest image
  with the easiest, one box side fraction in [0.1, 0.9] for the batch (``cut_mix_by_hardness``);
* the loss: per image, CE on the pixels with teacher confidence >= 0.7 over all its pixels, times its
  hardness; L_u = (L_aug + L_cutmix) / 2 when CutMix was triggered, L_aug alone otherwise.

The student sees [labeled, weak, CutMix (if any), intensity view] in one forward. L = L_sup + 3.0 L_u with
L_sup = OHEM (0.7, 100k) + 0.4 x OHEM on the aux head. Deviations: the intensity view is blended in uint8
(official: after normalisation); padding is never a pixel of L_u (iMAS does not track unlabeled padding);
hardness counts every pixel, as in the official code. Variant M: excluded pixels are dropped like
unconfident ones (the per-image denominator stays all pixels). Variant O: the student's and the teacher's
weak-view argmax maps (both computed anyway) disagree.
"""
from __future__ import annotations

import torch

from imlib.data.task import Task
from imlib.methods.imas import hardness
from imlib.methods.options import Option
from imlib.semi.views import mix, random_intensity, side_fraction_boxes
from imlib.study_a.batches import LabeledBatch, UnlabeledBatch
from imlib.study_a.hosts.base import TeacherHost
from imlib.study_a.losses import online_im_mask, per_image_ce
from imlib.study_a.recipe import HostRecipe


class IMAS(TeacherHost):
    key = "imas"
    name = "iMAS"
    model_kwargs = {"aux_head": True}
    online_im = "student vs EMA teacher argmax on the weak view"
    RECIPE = HostRecipe(lr=0.01, weight_decay=5e-4, head_lr_multiplier=1.0, total_batch=16, crop=768, epochs=240,
                        ohem_min_kept=100000, output_stride=16, atrous_rates=(6, 12, 18), eval_window=768,
                        eval_stride=512, ema=0.996, ema_buffers=True,
                        source="ZhenZHAO/iMAS train_semi.py, exps/citys_semi744/config_semi.yaml (os16), "
                               "imas/utils/loss_helper.py, imas/dataset/cutmix_tensor.py, imas/dataset/augmentations.py")
    OPTIONS = {"tau": Option(0.7, "config unsupervised.threshold (Cityscapes)"),
               "unsup_weight": Option(3.0, "config unsupervised.loss_weight (Cityscapes)"),
               "aux_weight": Option(0.4, "config net.aux_loss.loss_weight"),
               "n_ops": Option(2, "config strong_aug.num_augs"),
               "cutmix_side": Option((0.1, 0.9), "config use_cutmix_range: box side as a fraction of the crop side")}

    def __init__(self, net, num_classes: int, *args, **kwargs):
        super().__init__(net, num_classes, *args, **kwargs)
        # hardness() reads the classes from a Study B task description: softmax over num_classes
        self.task = Task("multiclass", 3, num_classes, tuple(str(c) for c in range(num_classes)))

    def loss(self, labeled: LabeledBatch, unlabeled: UnlabeledBatch | None, partner: UnlabeledBatch | None,
             step: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        o, xl, xu = self.options, labeled.image, unlabeled.image
        s_weak = self.predict_eval(self.model, xu)
        t_weak = self.predict_eval(self.teacher, xu)
        pt = t_weak.softmax(1)
        h = hardness(s_weak.softmax(1), pt, self.task, o["tau"])
        conf, lab = pt.max(1)
        excl = self.excluded(unlabeled, online_im_mask(s_weak, t_weak) if self.variant == "O" else None)

        hv = h.view(-1, 1, 1, 1)
        xs = (hv * random_intensity(xu, self.gen, o["n_ops"]).float() + (1 - hv) * xu.float()).round().to(torch.uint8)
        n, nl = len(xu), len(xl)
        trigger = bool(torch.rand((), generator=self.gen, device=xu.device) < h.mean())
        views = [xl, xu]
        if trigger:  # the hardest image with the easiest, and so on inwards
            order = h.argsort()
            pair = torch.empty_like(order)
            pair[order] = order.flip(0)
            box = side_fraction_boxes(n, xu.shape[-2], xu.shape[-1], self.gen, xu.device, side=tuple(o["cutmix_side"]))
            views.append(mix(xu, xu[pair], box))
            lab_c, conf_c, excl_c = (torch.where(box, t[pair], t) for t in (lab, conf, excl))
        views.append(xs)
        out = self.forward(torch.cat(views), extras=True)
        logits_u = out.logits[nl + n:].split(n)

        sup = self.supervised(out.logits[:nl], labeled.label, out.aux[:nl], o["aux_weight"])
        unsup = (per_image_ce(logits_u[-1], lab, (conf >= o["tau"]) & ~excl) * h).mean()
        if trigger:
            cut = (per_image_ce(logits_u[0], lab_c, (conf_c >= o["tau"]) & ~excl_c) * h).mean()
            unsup = (unsup + cut) / 2
        total = sup + o["unsup_weight"] * unsup
        parts = {"sup": sup, "unsup": unsup, "hardness": h.mean(), "excluded": excl.float().mean()}
        return total, {k: v.detach() for k, v in parts.items()}
