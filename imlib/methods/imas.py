"""iMAS, instance-specific model-adaptive supervision (Zhao et al., CVPR 2023).

An EMA teacher (0.996, parameters and BN statistics) labels the weak view. Per image, a *hardness*
score in [0, 1] (larger = easier, the official naming) is the class-weighted IoU between the student's
and the teacher's discrete predictions, computed both ways (weights = class pixel frequency of the
one side, background ignored) and each times that side's fraction of confident pixels; the mean of
the two. It drives

* the intensity augmentation: two RandAugment-like operations, blended with the weak image by the
  hardness (easy images get the full distortion);
* CutMix: triggered for the batch with probability = mean hardness; it mixes the *weak* images (official
  ``cut_mix_by_hardness(image_u_weak, ...)``, not the intensity-augmented ones), the hardest image with
  the easiest; the box side is a fraction v ~ U(0.1, 0.9) of the image sides, one v for the batch, each
  image's box centred at its own random point and clipped to the image (official ``rand_bbox_by_v``);
* the loss: per-image mean of the confident-pixel loss, times the hardness.

L = L_sup + lambda L_u, lambda = 3, tau = 0.7 (the Cityscapes configuration); L_u = (L_strong +
L_cutmix) / 2 when CutMix was triggered, L_strong alone otherwise (official).
An image side whose discrete map has no foreground at all gets IoU term 0 (official: the class weights
are 0/0 and ``np.nansum`` of the all-NaN products is 0), so such an image counts as hard.
For binary and multi-label tasks the "classes" of the IoU are the channels' foregrounds (deliberately:
iMAS defines it for softmax classes with background ignored; the channel's "on" class is the analogue).
"""
from __future__ import annotations

import torch

from imlib.losses import activate, pixel_loss
from imlib.methods.options import Option
from imlib.semi.objective import MeanTeacherObjective
from imlib.semi.pseudo import label_and_confidence
from imlib.semi.views import mix, random_intensity, side_fraction_boxes


def _one_hot_maps(labels: torch.Tensor, task) -> torch.Tensor:
    """(B, L, H, W) labels -> (B, K, H, W) bool maps of the classes hardness compares (background
    class 0 left out for multi-class; each channel's foreground otherwise)."""
    if task.kind == "multiclass":
        k = torch.arange(1, task.num_outputs, device=labels.device).view(1, -1, 1, 1)
        return labels == k
    return labels.bool()


def hardness(student_probs: torch.Tensor, teacher_probs: torch.Tensor, task, tau: float) -> torch.Tensor:
    """Per-image agreement score (B,), 1 = identical confident predictions, 0 = none in common (or no
    foreground on either side)."""
    ls, cs = label_and_confidence(student_probs, task)
    lt, ct = label_and_confidence(teacher_probs, task)
    ms, mt = _one_hot_maps(ls, task), _one_hot_maps(lt, task)
    inter = (ms & mt).flatten(2).sum(-1).float()
    union = (ms | mt).flatten(2).sum(-1).float()
    iou = torch.where(union > 0, inter / union.clamp_min(1), torch.ones_like(union))

    def weighted(freq_map: torch.Tensor) -> torch.Tensor:
        # no foreground at all on this side: every weight is 0 (official: 0/0 weights, nansum -> 0)
        freq = freq_map.flatten(2).sum(-1).float()
        w = freq / freq.sum(1, keepdim=True).clamp_min(1)
        return (w * iou).sum(1)

    conf_s = (cs >= tau).flatten(1).float().mean(1)
    conf_t = (ct >= tau).flatten(1).float().mean(1)
    return (weighted(mt) * conf_t + weighted(ms) * conf_s) / 2


def per_image_loss(logits, target, confident, task) -> torch.Tensor:
    """Mean confident-pixel loss of each image (B,), normalised by all its pixels."""
    return (pixel_loss(logits, target, task) * confident).flatten(1).mean(1)


class IMAS(MeanTeacherObjective):
    LOCKSTEP = False  # the CutMix trigger, drawn per step, decides whether the student sees a fourth batch
    OPTIONS = {"tau": Option(0.7, "published for Cityscapes, the only non-VOC configuration"),
               "ema": Option(0.996, "published"), "unsup_weight": Option(3.0, "published for Cityscapes"),
               "n_ops": Option(2, "published (2 operations per image)"),
               "cutmix_side": Option((0.1, 0.9), "published use_cutmix_range: the box side as a fraction of the "
                                                 "image side, one draw per batch")}

    def loss(self, model, step, total_steps):
        o, task = self.options, self.task
        xl, yl = self.labeled_batch()
        xu = self.unlabeled_batch()
        ps = activate(self.predict_eval(model, xu), task)
        pt = self.teacher_probs(xu)
        h = hardness(ps, pt, task, o["tau"])
        lab, conf = label_and_confidence(pt, task)
        distorted = random_intensity(xu, self.gen, o["n_ops"]).float()
        xs = (h.view(-1, 1, 1, 1) * distorted + (1 - h.view(-1, 1, 1, 1)) * xu.float()).round().to(torch.uint8)
        # adaptive CutMix of the weak images: hardest with easiest, triggered with probability mean(h)
        order = h.argsort()
        partner = torch.empty_like(order)
        partner[order] = order.flip(0)
        trigger = bool(torch.rand((), generator=self.gen, device=xu.device) < h.mean())
        n = len(xu)
        if trigger:
            box = side_fraction_boxes(n, xu.shape[-2], xu.shape[-1], self.gen, xu.device, side=o["cutmix_side"])
            xc = mix(xu, xu[partner], box)
            lab_c, conf_c = mix(lab, lab[partner], box), mix(conf, conf[partner], box)
            logits_l, _, logits_s, logits_c = model(torch.cat([xl, xu, xs, xc])).split([len(xl), n, n, n])
        else:  # official: the student sees [labeled, weak, strong] and L_u is the strong term alone
            logits_l, _, logits_s = model(torch.cat([xl, xu, xs])).split([len(xl), n, n])
        loss_x = self.supervised(logits_l, yl)
        loss_s = (per_image_loss(logits_s, lab, conf >= o["tau"], task) * h).mean()
        if trigger:
            loss_c = (per_image_loss(logits_c, lab_c, conf_c >= o["tau"], task) * h).mean()
            loss_u = (loss_s + loss_c) / 2
        else:
            loss_u = loss_s
        return loss_x + o["unsup_weight"] * loss_u, {"sup": loss_x, "unsup": loss_u, "hardness": h.mean()}
