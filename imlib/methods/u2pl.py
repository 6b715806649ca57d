"""U2PL, using unreliable pseudo-labels (Wang et al., CVPR 2022).

A mean teacher (EMA 0.99 of the parameters; copied from the student when the unlabeled phase starts
after ``sup_only_fraction`` of training) labels the unlabeled batch, which is CutMix-ed (p 0.5, image
i with image i + 1). Two unlabeled terms:

* L_u: the pseudo-label loss without the most uncertain pixels: those whose entropy under the
  teacher's train-mode forward on the (CutMix-ed) batch is in the top (100 - drop_percent) % x
  (1 - t / T), i.e. 20 % at the start, 0 % at the end; the mean loss over the kept pixels times
  (all pixels / kept pixels) (official ``compute_unsupervised_loss``);
* L_c: a contrastive loss on a representation head (conv-BN-ReLU-conv on the decoder's last features,
  pooled to stride 4; its parameters live with the method, the U-Net's count is unchanged), with
  alpha_t = ``low_entropy`` % x (1 - t / T) (official ``low_entropy_threshold`` 20, decayed like the
  drop rate). Per class c, its *low-entropy* pixels are the labeled pixels of c and the unlabeled
  pixels pseudo-labeled c whose teacher entropy is in the lowest alpha_t of the unlabeled pixels;
  anchors are the student features of those with prob(c) > 0.3; the positive is the mean teacher
  feature of those low-entropy pixels (official ``seg_proto_list``, not of every pixel of c); negatives
  are teacher features of *unreliable* unlabeled pixels (entropy in the top alpha_t) for which c ranks
  ``low_rank``..``high_rank`` - 1 among the classes, and of labeled pixels where c is in the top
  ``low_rank`` but is not the truth, kept in a per-class FIFO memory bank. InfoNCE with cosine
  similarity / temperature 0.5, 256 anchors, 50 negatives each. The sum over classes is divided by the
  number of classes that have low-entropy pixels (a class without anchors or bank negatives adds 0 but
  counts), and L_c is 0 when at most one class has any (official ``reco_loss / valid_seg``).

L = L_sup + L_u + L_c. Kept different: the negatives follow the paper (pixels *not* of class c); the
official code intersects them with the pixels labeled c, which leaves its labeled negatives always
empty (Haochen-Wang409/U2PL issue #171). ``low_rank`` is capped at K - 1 so that every class can have
negatives; binary and multi-label channels are two-class problems with their own banks.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from imlib.losses import activate, pixel_loss
from imlib.methods.options import Option
from imlib.semi.memory_bank import MemoryBank
from imlib.semi.objective import MeanTeacherObjective
from imlib.semi.pseudo import class_groups, entropy, label_and_confidence
from imlib.semi.teacher import make_teacher
from imlib.semi.views import mix


def unreliable_fraction(progress: float, drop_percent: float = 80.0) -> float:
    """The fraction of pixels L_u drops: (100 - drop_percent) / 100 x (1 - t / T)."""
    return (100.0 - drop_percent) / 100.0 * (1.0 - min(max(progress, 0.0), 1.0))


def low_entropy_fraction(progress: float, low_entropy: float = 20.0) -> float:
    """The contrastive alpha_t as a fraction: low_entropy / 100 x (1 - t / T) (official ``alpha_t``)."""
    return low_entropy / 100.0 * (1.0 - min(max(progress, 0.0), 1.0))


def reliable_loss(logits: torch.Tensor, target: torch.Tensor, keep: torch.Tensor, task) -> torch.Tensor:
    """U2PL's L_u: the mean pixel loss over the kept pixels times (all pixels / kept pixels)."""
    kept = keep.sum().clamp_min(1)
    return (pixel_loss(logits, target, task) * keep).sum() / kept * (keep.numel() / kept)


def reliable_mask(ent: torch.Tensor, fraction: float) -> torch.Tensor:
    """True except for the ``fraction`` of pixels with the highest entropy."""
    if fraction <= 0:
        return torch.ones_like(ent, dtype=torch.bool)
    thresh = torch.quantile(ent.flatten().float(), 1.0 - fraction)
    return ent < thresh


class RepresentationHead(nn.Sequential):
    """U2PL's projection head for the small U-Net: conv3x3-BN-ReLU-conv1x1 on features pooled to ``stride``."""

    def __init__(self, c_in: int, dim: int, stride: int):
        super().__init__(nn.AvgPool2d(stride), nn.Conv2d(c_in, dim, 3, padding=1, bias=False), nn.BatchNorm2d(dim),
                         nn.ReLU(inplace=True), nn.Conv2d(dim, dim, 1))


def forward_with_representation(model, head: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    if not hasattr(model, "decode_features"):
        raise TypeError(f"U2PL needs a model with encode/decode_features/head, got {type(model).__name__}")
    feats = model.decode_features(model.encode(x))
    return model.head(feats).float(), head(feats).float()


@dataclass
class ContrastGroup:
    """One class group's batch at the representation's resolution, labeled images first.

    rep_s/rep_t: student/teacher features (N, D, h, w); labels (N, h, w) long, -1 = ignore; probs (N, K,
    h, w) the teacher's; reliable (N, h, w) bool: the low-entropy pixels (every labeled one), which give
    the anchors and the prototypes; unreliable: unlabeled pixels whose features may be negatives."""

    rep_s: torch.Tensor
    rep_t: torch.Tensor
    labels: torch.Tensor
    probs: torch.Tensor
    reliable: torch.Tensor
    unreliable: torch.Tensor
    n_labeled: int


def contrastive_loss(group: ContrastGroup, bank: MemoryBank, bank_offset: int, gen: torch.Generator,
                     options: dict) -> torch.Tensor | None:
    """U2PL's L_c for one class group: the sum of the per-class InfoNCE terms over the number of classes
    with low-entropy pixels (None when at most one class has any)."""
    n, k = group.probs.shape[:2]
    dev = group.rep_s.device
    rep_s = group.rep_s.permute(0, 2, 3, 1)
    rep_t = group.rep_t.permute(0, 2, 3, 1).detach()
    labels, probs = group.labels, group.probs
    rank = probs.argsort(1, descending=True).argsort(1)  # rank[:, c] = position of class c
    labeled = (torch.arange(n, device=dev) < group.n_labeled).view(-1, 1, 1)
    valid = labels >= 0
    low_rank, high_rank = min(options["low_rank"], k - 1), options["high_rank"]
    queries, temperature = options["queries"], options["temperature"]
    losses, classes = [], 0
    for c in range(k):
        is_c = (labels == c) & valid
        rc = rank[:, c]
        negatives = ((labeled & valid & (rc < low_rank) & ~is_c)
                     | (~labeled & group.unreliable & (rc >= low_rank) & (rc < high_rank)))
        bank.push(bank_offset + c, rep_t[negatives])
        low_c = is_c & group.reliable
        if not bool(low_c.any()):
            continue
        classes += 1
        anchors = rep_s[low_c & (probs[:, c] > options["prob_threshold"])]
        negs = bank.get(bank_offset + c)
        if len(anchors) == 0 or len(negs) == 0:
            continue  # counts in the denominator, adds 0 (official)
        positive = rep_t[low_c].mean(0)
        q = anchors[torch.randint(len(anchors), (queries,), generator=gen, device=dev)]
        nk = negs[torch.randint(len(negs), (queries, options["negatives"]), generator=gen, device=dev)]
        keys = torch.cat([positive.expand(queries, 1, -1), nk.to(q.dtype)], 1)
        logits = F.cosine_similarity(q[:, None], keys, dim=-1) / temperature
        losses.append(F.cross_entropy(logits, torch.zeros(len(q), dtype=torch.long, device=dev)))
    if classes <= 1:
        return None
    return (torch.stack(losses).sum() if losses else group.rep_s.sum() * 0) / classes


class U2PL(MeanTeacherObjective):
    OPTIONS = {"ema": Option(0.99, "published"),
               "drop_percent": Option(80.0, "published: 20 % -> 0 % of pixels dropped"),
               "low_entropy": Option(20.0, "published low_entropy_threshold: anchor / negative percentile at the "
                                           "start, decayed to 0 over training"),
               "low_rank": Option(3, "published (capped at K - 1)"), "high_rank": Option(20, "published"),
               "prob_threshold": Option(0.3, "published anchor probability"),
               "temperature": Option(0.5, "published"), "queries": Option(256, "published"),
               "negatives": Option(50, "published"), "bank_size": Option(30000, "published"),
               "bank_size_background": Option(50000, "published (class 0)"),
               "rep_dim": Option(64, "256 in U2PL for a 256-channel decoder; 64 for a U-Net whose last decoder "
                                     "has 8-16"),
               "rep_stride": Option(4, "the stride of U2PL's representation (DeepLabV3+ decoder at 1/4)"),
               "contrast_weight": Option(1.0, "published"), "cutmix_p": Option(0.5, "published"),
               "sup_only_fraction": Option(0.05, "U2PL trains 1 of 200 epochs supervised-only; a from-scratch "
                                                 "teacher needs longer to be better than chance")}
    EMA_BUFFERS = False  # U2PL averages parameters; the teacher's train-mode forwards keep its BN statistics

    def bind(self, model, device, seed):
        super().bind(model, device, seed)
        o = self.options
        self.head = RepresentationHead(model.head.in_channels, o["rep_dim"], o["rep_stride"]).to(
            device=self.device, dtype=model.head.weight.dtype)  # the network's precision
        self.teacher_head = make_teacher(self.head)
        self.teacher_started = False  # the teacher starts when the supervised-only phase ends
        groups = 1 if self.task.kind == "multiclass" else self.task.num_outputs
        per_group = self.task.num_outputs if self.task.kind == "multiclass" else 2
        caps = [o["bank_size_background"] if c == 0 else o["bank_size"] for c in range(per_group)] * groups
        self.bank = MemoryBank(groups * per_group, o["rep_dim"], caps, self.device)

    def ema_pairs(self, model):
        return [(self.teacher, model), (self.teacher_head, self.head)]

    def parameters(self):
        return list(self.head.parameters())

    def loss(self, model, step, total_steps):
        o, task = self.options, self.task
        xl, yl = self.labeled_batch()
        if step < int(o["sup_only_fraction"] * total_steps):
            loss_x = self.supervised(model(xl), yl)
            zero = loss_x.detach() * 0
            return loss_x, {"sup": loss_x, "unsup": zero, "contrast": zero}
        if not self.teacher_started:
            self.start_teacher(model)
        xu = self.unlabeled_batch()
        pu = self.teacher_probs(xu)
        box = self.boxes(xu, p=o["cutmix_p"])
        xu, pu = mix(xu, xu.roll(1, 0), box), mix(pu, pu.roll(1, 0), box)
        lab_u, _ = label_and_confidence(pu, task)
        nl = len(xl)
        x = torch.cat([xl, xu])
        logits, rep = forward_with_representation(model, self.head, x)
        with torch.no_grad():  # U2PL's teacher forward in train mode (its BN statistics follow the data)
            self.teacher.train()
            self.teacher_head.train()
            t_logits, t_rep = forward_with_representation(self.teacher, self.teacher_head, x)
            self.teacher_head.eval()
        loss_x = self.supervised(logits[:nl], yl)
        t_probs = activate(t_logits, task)
        # official: the entropy that decides the dropped pixels is the train-mode teacher's on this batch
        keep = reliable_mask(entropy(t_probs[nl:], task), unreliable_fraction(step / total_steps, o["drop_percent"]))
        loss_u = reliable_loss(logits[nl:], lab_u, keep, task)
        alpha = low_entropy_fraction(step / total_steps, o["low_entropy"])
        loss_c = self.contrast(rep, t_rep, torch.cat([yl, lab_u]), t_probs, nl, alpha)
        return loss_x + loss_u + o["contrast_weight"] * loss_c, {"sup": loss_x, "unsup": loss_u, "contrast": loss_c}

    def contrast(self, rep, t_rep, labels, t_probs, nl, alpha) -> torch.Tensor:
        """L_c, the mean over the class groups that have a term; ``alpha``: the low-/high-entropy fraction."""
        o, task, stride = self.options, self.task, self.options["rep_stride"]
        h, w = rep.shape[-2:]
        probs = F.adaptive_avg_pool2d(t_probs, (h, w))
        lab = labels[:, :, stride // 2::stride, stride // 2::stride][..., :h, :w].long()
        lab = torch.where(lab == task.ignore_index, -1, lab)
        terms = []
        entropies = entropy(probs, task)  # (N, groups, h, w)
        for g, gp in enumerate(class_groups(probs, task)):
            ent = entropies[:, g]
            ent_u = ent[nl:]
            low = ent <= torch.quantile(ent_u.flatten(), alpha)  # official np.percentile(alpha_t), >=/<= inclusive
            high = ent >= torch.quantile(ent_u.flatten(), 1 - alpha)
            low[:nl] = True
            group = ContrastGroup(rep, t_rep, lab[:, 0 if task.kind == "multiclass" else g], gp, low, high, nl)
            term = contrastive_loss(group, self.bank, g * gp.shape[1], self.gen, o)
            if term is not None:
                terms.append(term)
        return torch.stack(terms).mean() if terms else rep.sum() * 0

    def state_dict(self):
        return {**super().state_dict(), "teacher_head": self.teacher_head.state_dict(), "head": self.head.state_dict(),
                "bank": self.bank.state_dict()}

    def load_state_dict(self, state):
        super().load_state_dict(state)
        self.teacher_head.load_state_dict(state["teacher_head"])
        self.head.load_state_dict(state["head"])
        self.bank.load_state_dict(state["bank"])
