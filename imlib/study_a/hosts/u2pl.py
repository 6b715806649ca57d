"""U2PL, using unreliable pseudo-labels (Wang et al., CVPR 2022), as its ``train_semi.py`` trains Cityscapes
(experiments/cityscapes/744/ours/config.yaml).

One step: the EMA teacher (0.99, parameters only; its BN statistics follow its own train-mode forwards)
labels the weak unlabeled batch in eval mode; with p 0.5 (one draw for the batch) each image gets a box of
half the crop's area (width uniform in (W/2, W), height = area / width) pasted from image i + 1, with its
pseudo-label and confidence. The student sees [labeled, unlabeled] once (logits, aux logits, 256-d
representation at 1/4); the teacher sees the same batch in train mode, no grad. Terms:

* L_sup = OHEM (0.7, 100k) + 0.4 x OHEM on the aux head (layer 3);
* L_u: CE against the pseudo-labels without the pixels whose train-mode teacher entropy is in the top
  20 % -> 0 % (linear over training), as the mean over the kept pixels x (all pixels / kept pixels)
  (official ``compute_unsupervised_loss``);
* L_c: the contrastive loss of :func:`imlib.methods.u2pl.contrastive_loss` on the representation: anchors
  from labeled pixels and the unlabeled pixels whose teacher entropy is in the lowest alpha_t (20 % -> 0 %),
  with p(c) > 0.3; positive = mean teacher feature of those; negatives = teacher features of high-entropy
  unlabeled pixels whose class c ranks 3..19, and of labeled pixels where c is in the top 3 but not the
  truth, from a per-class FIFO memory bank (30 000 per class, 50 000 for class 0); 256 queries x 50
  negatives, temperature 0.5. Masks, labels and teacher probabilities are taken at the representation's
  resolution by nearest sampling (official: the decoder's 1/4 logits and nearest-downsampled masks).

L = L_sup + L_u + L_c. Deviations: the drop and alpha_t schedules advance per iteration (official: per
epoch); padding is never a pixel of L_u or L_c (U2PL does not track unlabeled padding); the contrastive
negatives follow the paper and every class uses its own prototype (Study B's reading, see
:mod:`imlib.methods.u2pl`: the official code intersects negatives with the class's own pixels,
Haochen-Wang409/U2PL issue #171, and indexes prototypes by position among the present classes); the
memory bank is per process (official: keys gathered from every GPU), kept on the device and checkpointed.

Variant M: excluded pixels (padding, IM) are out of L_u's entropy percentile and loss like U2PL's own
ignored pixels, and are neither anchors, prototypes nor negatives of L_c. Variant O: pixels where an
eval-mode, no-grad student forward on the weak view and the teacher disagree (argmax), carried through
CutMix like the pseudo-labels.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from imlib.methods.options import Option
from imlib.methods.u2pl import ContrastGroup, contrastive_loss, low_entropy_fraction, unreliable_fraction
from imlib.semi.memory_bank import MemoryBank
from imlib.semi.views import mix
from imlib.study_a.batches import IGNORE, LabeledBatch, UnlabeledBatch, normalize
from imlib.study_a.hosts.base import TeacherHost
from imlib.study_a.losses import masked_ce, online_im_mask
from imlib.study_a.recipe import HostRecipe

REP_DIM = 256  # U2PL's representation head (decoder rep_head, 256 channels)


def half_area_boxes(b: int, h: int, w: int, gen: torch.Generator, device) -> torch.Tensor:
    """U2PL's CutMix box (official ``generate_cutmix_mask(ratio=2)``), (B, H, W) bool: area H W / 2, width
    uniform in [W // 2 + 1, W - 1], height round(area / width), placed uniformly where it fits."""
    lo, hi = w // 2 + 1, max(w - 1, w // 2 + 1)
    bw = (lo + torch.rand(b, generator=gen, device=device) * (hi - lo + 1)).floor().clamp(max=hi)
    bh = (h * w / 2 / bw).round().clamp(1, h)
    x0 = (torch.rand(b, generator=gen, device=device) * (w - bw + 1)).floor()
    y0 = (torch.rand(b, generator=gen, device=device) * (h - bh + 1)).floor()
    ys = torch.arange(h, device=device).view(1, -1, 1)
    xs = torch.arange(w, device=device).view(1, 1, -1)
    return ((ys >= y0.view(-1, 1, 1)) & (ys < (y0 + bh).view(-1, 1, 1))
            & (xs >= x0.view(-1, 1, 1)) & (xs < (x0 + bw).view(-1, 1, 1)))


def pixel_entropy(probs: torch.Tensor) -> torch.Tensor:
    """(B, H, W): the official -sum p log(p + 1e-10)."""
    return -(probs * (probs + 1e-10).log()).sum(1)


def reliable_ce(logits: torch.Tensor, target: torch.Tensor, valid: torch.Tensor, ent: torch.Tensor,
                fraction: float) -> torch.Tensor:
    """L_u: drop the valid pixels with entropy at or above the (1 - fraction) quantile of the valid pixels'
    entropies; mean CE over the kept pixels x (all pixels / kept pixels)."""
    if not bool(valid.any()):
        return logits.float().sum() * 0
    keep = valid & (ent < torch.quantile(ent[valid].float(), 1.0 - fraction))
    kept = keep.sum()
    return masked_ce(logits, target, keep, kept) * (keep.numel() / kept.clamp_min(1))


class U2PL(TeacherHost):
    key = "u2pl"
    name = "U2PL"
    model_kwargs = {"aux_head": True, "rep_dim": REP_DIM}
    online_im = "student vs EMA teacher argmax on the weak view"
    RECIPE = HostRecipe(lr=0.01, weight_decay=5e-4, head_lr_multiplier=1.0, total_batch=16, crop=768, epochs=200,
                        ohem_min_kept=100000, output_stride=8, atrous_rates=(12, 24, 36), eval_window=768,
                        eval_stride=512, gpus=8, ema=0.99, ema_buffers=False,
                        source="Haochen-Wang409/U2PL train_semi.py, experiments/cityscapes/744/ours/config.yaml, "
                               "u2pl/utils/loss_helper.py, u2pl/dataset/augmentation.py, eval.py")
    OPTIONS = {"aux_weight": Option(0.4, "config net.aux_loss.loss_weight"),
               "cutmix_p": Option(0.5, "train_semi.py: np.random.uniform(0, 1) < 0.5, one draw per batch"),
               "drop_percent": Option(80.0, "config unsupervised.drop_percent: 20 % -> 0 % of pixels dropped"),
               "low_entropy": Option(20.0, "config contrastive.low_entropy_threshold (alpha_0, percent)"),
               "low_rank": Option(3, "config contrastive.low_rank"), "high_rank": Option(20, "config contrastive.high_rank"),
               "prob_threshold": Option(0.3, "config contrastive.current_class_threshold (anchor p(c))"),
               "temperature": Option(0.5, "config contrastive.temperature"),
               "queries": Option(256, "config contrastive.num_queries"),
               "negatives": Option(50, "config contrastive.num_negatives"),
               "bank_size": Option(30000, "train_semi.py memobank queue_size per class"),
               "bank_size_background": Option(50000, "train_semi.py queue_size[0] (class 0)"),
               "unsup_weight": Option(1.0, "config unsupervised.loss_weight (default 1)"),
               "contrast_weight": Option(1.0, "config contrastive.loss_weight (default 1)")}

    def __init__(self, net, num_classes: int, *args, **kwargs):
        super().__init__(net, num_classes, *args, **kwargs)
        o = self.options
        caps = [o["bank_size_background"] if c == 0 else o["bank_size"] for c in range(num_classes)]
        self.bank = MemoryBank(num_classes, REP_DIM, caps, self.device)

    def loss(self, labeled: LabeledBatch, unlabeled: UnlabeledBatch | None, partner: UnlabeledBatch | None,
             step: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        o, xl, yl, xu = self.options, labeled.image, labeled.label, unlabeled.image
        t_weak = self.predict_eval(self.teacher, xu)
        conf_u, lab_u = t_weak.softmax(1).max(1)
        online = online_im_mask(self.predict_eval(self.model, xu), t_weak) if self.variant == "O" else None
        excl = self.excluded(unlabeled, online)

        b, h, w = lab_u.shape
        coin = torch.rand((), generator=self.gen, device=xu.device) < o["cutmix_p"]
        box = half_area_boxes(b, h, w, self.gen, xu.device) & coin
        xu = mix(xu, xu.roll(-1, 0), box)  # image i + 1 pasted into image i (official)
        lab_u, excl = (torch.where(box, t.roll(-1, 0), t) for t in (lab_u, excl))

        nl, x = len(xl), torch.cat([xl, xu])
        out = self.forward(x, extras=True)
        with torch.no_grad():  # train mode: the teacher's BN statistics follow this batch (official)
            self.teacher.train()
            t_out = self.teacher(normalize(x), extras=True)
            self.teacher.eval()
        t_probs = t_out.logits.float().softmax(1)
        ent_u = pixel_entropy(t_probs[nl:])
        valid_u = ~excl
        p = self.progress(step)

        sup = self.supervised(out.logits[:nl], yl, out.aux[:nl], o["aux_weight"])
        unsup = reliable_ce(out.logits[nl:], lab_u, valid_u, ent_u, unreliable_fraction(p, o["drop_percent"]))
        contrast = self.contrast(out.rep, t_out.rep, yl, lab_u, valid_u, ent_u, t_probs,
                                 low_entropy_fraction(p, o["low_entropy"]))
        total = sup + o["unsup_weight"] * unsup + o["contrast_weight"] * contrast
        parts = {"sup": sup, "unsup": unsup, "contrast": contrast, "excluded": excl.float().mean()}
        return total, {k: v.detach() for k, v in parts.items()}

    def contrast(self, rep: torch.Tensor, t_rep: torch.Tensor, yl: torch.Tensor, lab_u: torch.Tensor,
                 valid_u: torch.Tensor, ent_u: torch.Tensor, t_probs: torch.Tensor, alpha: float) -> torch.Tensor:
        """L_c; ``alpha``: the low-/high-entropy fraction of the valid unlabeled pixels (official percentiles
        over ``label_u_aug != 255``)."""
        nl = len(yl)
        low_u = torch.zeros_like(valid_u)
        high_u = torch.zeros_like(valid_u)
        if bool(valid_u.any()):
            ev = ent_u[valid_u].float()
            low_u = valid_u & (ent_u <= torch.quantile(ev, alpha))
            high_u = valid_u & (ent_u >= torch.quantile(ev, 1.0 - alpha))
        labels = torch.cat([yl.long().where(yl != IGNORE, -1), lab_u.long().where(valid_u, -1)])
        reliable = torch.cat([torch.ones_like(yl, dtype=torch.bool), low_u])
        unreliable = torch.cat([torch.zeros_like(yl, dtype=torch.bool), high_u])
        size = rep.shape[-2:]

        def down(t: torch.Tensor) -> torch.Tensor:
            return F.interpolate(t[:, None].float(), size=size, mode="nearest")[:, 0]

        group = ContrastGroup(rep.float(), t_rep.float(), down(labels).long(),
                              F.interpolate(t_probs, size=size, mode="nearest"), down(reliable).bool(),
                              down(unreliable).bool(), nl)
        term = contrastive_loss(group, self.bank, 0, self.gen, self.options)
        return term if term is not None else rep.float().sum() * 0

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "bank": self.bank.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        bank = state["bank"]  # copied: the bank is written in place, and ``state`` may be another host's
        self.bank.load_state_dict({"data": [d.to(self.device, copy=True) for d in bank["data"]],
                                   "size": bank["size"], "ptr": bank["ptr"]})
