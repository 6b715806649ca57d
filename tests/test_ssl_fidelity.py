"""The Study B baselines against their official implementations: each test pins one behaviour of the
official code that the re-implementation once missed (FPL, iMAS, U2PL, CrossMatch, UniMatch)."""
import copy
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import imlib.methods.imas as imas_module
import imlib.methods.u2pl as u2pl_module
from imlib.data import SegData
from imlib.engine import TrainSettings, train_model
from imlib.losses import activate
from imlib.methods.crossmatch import CrossMatch
from imlib.methods.fpl import FPL, fpl_loss
from imlib.methods.imas import IMAS, hardness
from imlib.methods.u2pl import U2PL, ContrastGroup, contrastive_loss, reliable_loss
from imlib.methods.unimatch import UniMatch, channel_dropout
from imlib.models.unet import LightUNet
from imlib.semi.memory_bank import MemoryBank
from imlib.semi.views import side_fraction_boxes

CPU = torch.device("cpu")


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def _tiny(task, n=8, size=32, seed=0):
    """Toy scenes: a bright rectangle (class 1 / the first channel) on a dark, noisy ground."""
    g = _gen(seed)
    ys = torch.arange(size).view(1, -1, 1)
    xs = torch.arange(size).view(1, 1, -1)
    y0, x0 = torch.randint(0, size // 2, (2, n, 1, 1), generator=g)
    h, w = torch.randint(size // 4, size // 2, (2, n, 1, 1), generator=g)
    rect = (ys >= y0) & (ys < y0 + h) & (xs >= x0) & (xs < x0 + w)
    noise = torch.randint(0, 40, (n, task.in_channels, size, size), generator=g)
    images = (40 + 150 * rect[:, None] + noise).to(torch.uint8)
    labels = rect[:, None].to(torch.uint8)
    if task.kind == "multilabel":
        labels = torch.cat([labels, torch.zeros(n, 2, size, size, dtype=torch.uint8)], 1)
    return SegData(images, labels)


def _model(task, seed=1):
    """A tiny U-Net; seed 1 gives live (non-zero) outputs on the toy scenes."""
    torch.manual_seed(seed)
    return LightUNet(task.in_channels, task.num_outputs, alpha=0.25, bn_momentum=0.1)


def _bound(cls, task, options=None, seed=0):
    data = _tiny(task)
    obj = cls(data, data.images, task, 4, options or {})
    model = _model(task)
    obj.bind(model, CPU, seed)
    return obj, model


def _bn_layers(model):
    return [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]


# --- FPL -------------------------------------------------------------------------------------------

def test_fpl_teacher_predicts_in_train_mode_and_its_ema_skips_bn_statistics(multiclass_task):
    """Official AEL+FPL: ``model_teacher.train()`` for the whole epoch, EMA over ``parameters()`` only."""
    obj, model = _bound(FPL, multiclass_task)
    x = obj.unlabeled_batch()
    for bn in _bn_layers(obj.teacher):  # running statistics a train-mode forward must not use
        bn.running_mean.fill_(50.0)
        bn.running_var.fill_(1e-4)
    reference = copy.deepcopy(obj.teacher).train()
    with torch.no_grad():
        expected = activate(reference(x).float(), multiclass_task)
    assert torch.allclose(obj.teacher_probs(x), expected, atol=1e-6)
    # the EMA averages parameters and leaves the teacher's own BN statistics alone
    for bn in _bn_layers(model):
        bn.running_mean.fill_(7.0)
    before = [bn.running_mean.clone() for bn in _bn_layers(obj.teacher)]
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    teacher_param = next(obj.teacher.parameters()).clone()
    obj.after_step(model, step=10)
    assert all(torch.equal(b, bn.running_mean) for b, bn in zip(before, _bn_layers(obj.teacher)))
    assert not torch.equal(teacher_param, next(obj.teacher.parameters()))


def test_fpl_pixels_are_weighted_by_teacher_confidence_squared(multiclass_task):
    """Official ``Criterion_cons``: per-pixel weight conf^gamma / sum conf^gamma, gamma 2. Two pixels with
    the same student logits: the ratio of their gradients changes by (conf_a / conf_b)^2 against gamma 0."""
    teacher = torch.tensor([[0.9, 0.05, 0.03, 0.02], [0.6, 0.3, 0.05, 0.05]]).T.reshape(1, 4, 1, 2)
    base = torch.tensor([0.5, 0.2, -0.1, 0.3]).view(1, 4, 1, 1).expand(1, 4, 1, 2).contiguous()

    def grad_ratio(gamma):
        z = base.clone().requires_grad_(True)
        fpl_loss(z, teacher, multiclass_task, gamma=gamma).backward()
        g = z.grad.abs().sum(1).flatten()
        assert (g > 0).all()
        return (g[0] / g[1]).item()

    assert grad_ratio(2.0) / grad_ratio(0.0) == pytest.approx((0.9 / 0.6) ** 2, rel=1e-4)
    assert FPL.OPTIONS["conf_gamma"].default == 2.0


def test_fpl_adds_the_labeled_consistency_term(multiclass_task):
    """Official AEL+FPL: L = L_sup + w (FPL(student, teacher) on the labeled batch + on the unlabeled one)."""
    with_l, model_a = _bound(FPL, multiclass_task)
    without, model_b = _bound(FPL, multiclass_task, {"labeled_consistency": False})
    total_a, parts_a = with_l.loss(model_a, 0, 10)
    total_b, parts_b = without.loss(model_b, 0, 10)
    assert parts_a["labeled_fpl"].item() > 0 and parts_b["labeled_fpl"].item() == 0
    assert parts_a["unsup"].item() == pytest.approx(parts_b["unsup"].item(), rel=1e-6)
    assert (total_a - total_b).item() == pytest.approx(parts_a["labeled_fpl"].item(), rel=1e-5)
    assert total_a.item() == pytest.approx((parts_a["sup"] + parts_a["unsup"] + parts_a["labeled_fpl"]).item(),
                                           rel=1e-6)


# --- iMAS ------------------------------------------------------------------------------------------

class _Recorder(nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net, self.inputs = net, []

    def forward(self, x):
        self.inputs.append(x.detach().clone())
        return self.net(x)


def test_imas_cutmix_mixes_the_weak_images(multiclass_task, monkeypatch):
    """Official: ``cut_mix_by_hardness(image_u_weak, ...)``; the intensity-augmented view is a separate input."""
    monkeypatch.setattr(imas_module, "hardness", lambda s, t, task, tau: torch.ones(len(s)))  # always CutMix
    data = _tiny(multiclass_task)
    obj = IMAS(data, data.images, multiclass_task, 4)
    model = _Recorder(_model(multiclass_task))
    obj.bind(model, CPU, 3)
    obj.loss(model, 0, 10)
    batch = next(x for x in model.inputs if len(x) == 16)
    xl, xu, xs, xc = batch.split(4)
    assert not torch.equal(xc, xu) and not torch.equal(xs, xu)
    for i in range(4):  # every pixel of the mixed image comes from a weak image: its own or its partner's
        from_weak = [((xc[i] == xu[i]) | (xc[i] == xu[j])).all() for j in range(4) if j != i]
        assert any(from_weak), i


def test_imas_box_side_fraction_is_one_draw_for_the_batch():
    """Official ``rand_bbox_by_v``: one side fraction v for the batch, boxes centred per image and clipped."""
    sizes = set()
    for seed in range(20):
        box = side_fraction_boxes(64, 64, 96, _gen(seed), CPU, side=(0.1, 0.9))
        rows, cols = box.any(2), box.any(1)
        inner = (~rows[:, 0] & ~rows[:, -1] & ~cols[:, 0] & ~cols[:, -1]) & box.flatten(1).any(1)
        heights, widths = rows[inner].sum(1), cols[inner].sum(1)
        assert inner.sum() > 0 and len(set(heights.tolist())) == 1 and len(set(widths.tolist())) == 1
        v = heights[0].item() / 64
        assert 0.1 - 2 / 64 <= v <= 0.9 and abs(widths[0].item() / 96 - v) < 3 / 64  # a side, not an area, fraction
        sizes.add(heights[0].item())
    assert len(sizes) > 5  # v is redrawn per batch
    assert not side_fraction_boxes(8, 64, 64, _gen(), CPU, apply=torch.zeros(8, dtype=torch.bool)).any()


def test_imas_hardness_is_zero_when_neither_side_has_foreground(multiclass_task, binary_task):
    """Official: the class weights of a map without foreground are 0/0 and ``np.nansum`` gives 0."""
    background = torch.zeros(2, 4, 8, 8)
    background[:, 0] = 0.97
    background[:, 1:] = 0.01
    assert torch.equal(hardness(background, background, multiclass_task, 0.7), torch.zeros(2))
    off = torch.full((1, 1, 8, 8), 0.02)
    assert hardness(off, off, binary_task, 0.7).item() == 0.0
    on = off.clone()
    on[..., :2, :] = 0.99
    assert hardness(on, on, binary_task, 0.7).item() == pytest.approx(1.0)  # with foreground: agreement counts


# --- U2PL ------------------------------------------------------------------------------------------

def test_u2pl_anchor_percentile_decays_over_training(multiclass_task, monkeypatch):
    """Official: alpha_t = low_entropy_threshold x (1 - epoch / epochs) for the low-entropy (anchor) mask."""
    seen = []
    original = u2pl_module.contrastive_loss

    def spy(group, *args):
        seen.append(group.reliable[group.n_labeled:].float().mean().item())
        return original(group, *args)

    monkeypatch.setattr(u2pl_module, "contrastive_loss", spy)
    fractions = {}
    for step in (0, 5):
        obj, model = _bound(U2PL, multiclass_task, {"sup_only_fraction": 0.0, "queries": 8, "negatives": 4})
        seen.clear()
        obj.loss(model, step, 10)
        fractions[step] = seen[0]
    assert fractions[0] == pytest.approx(0.2, abs=0.02)
    assert fractions[5] == pytest.approx(0.1, abs=0.02)


def _contrast_group(labels, reliable, rep_t):
    """A 3-class group of one unlabeled image (n_labeled 0, no unreliable pixels: nothing is pushed)."""
    n, h, w = labels.shape
    probs = F.one_hot(labels.clamp_min(0), 3).permute(0, 3, 1, 2).float() * 0.9 + 0.1 / 3
    rep_s = torch.zeros(n, 3, h, w)
    rep_s[:, 0] = 1.0  # every student feature along e1
    return ContrastGroup(rep_s, rep_t, labels, probs, reliable, torch.zeros_like(reliable), 0)


_OPTS = {"low_rank": 3, "high_rank": 20, "queries": 16, "negatives": 4, "temperature": 0.5, "prob_threshold": 0.3}


def test_u2pl_prototype_is_the_mean_of_the_low_entropy_pixels():
    """Official ``seg_proto_list``: the positive key is the teacher mean over the low-entropy pixels of c."""
    labels = torch.zeros(1, 4, 4, dtype=torch.long)
    labels[:, 2:] = 1
    reliable = torch.zeros(1, 4, 4, dtype=torch.bool)
    reliable[:, 0] = True  # class 0: one reliable row (teacher e1), one unreliable row (teacher e2)
    reliable[:, 2] = True  # class 1: reliable pixels, but no negatives in the bank: adds 0, counts
    rep_t = torch.zeros(1, 3, 4, 4)
    rep_t[:, 0, 0] = 1.0
    rep_t[:, 1, 1] = 1.0
    rep_t[:, 2, 2:] = 1.0
    bank = MemoryBank(3, 3, 10, CPU)
    bank.push(0, torch.tensor([[0.0, 0.0, 1.0]]))  # negatives of class 0: orthogonal to the anchors
    loss = contrastive_loss(_contrast_group(labels, reliable, rep_t), bank, 0, _gen(), _OPTS)
    # anchor e1, positive e1 (cos 1), 4 negatives with cos 0; temperature 0.5; 2 classes with low-entropy pixels
    expected = -math.log(math.exp(2.0) / (math.exp(2.0) + 4)) / 2
    assert loss.item() == pytest.approx(expected, rel=1e-5)


def test_u2pl_contrast_averages_over_classes_with_low_entropy_pixels():
    """Official ``reco_loss / valid_seg``: classes with low-entropy pixels but no anchors or negatives
    count in the denominator, and L_c is 0 when at most one class has any."""
    labels = torch.zeros(1, 6, 4, dtype=torch.long)
    labels[:, 2:4] = 1
    labels[:, 4:] = 2
    reliable = torch.ones(1, 6, 4, dtype=torch.bool)
    rep_t = torch.zeros(1, 3, 6, 4)
    rep_t[:, 0] = 1.0

    def run(lab):
        bank = MemoryBank(3, 3, 10, CPU)
        for c in (0, 2):  # class 1 has no negatives
            bank.push(c, torch.tensor([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]))
        return contrastive_loss(_contrast_group(lab, reliable, rep_t), bank, 0, _gen(), _OPTS)

    three = run(labels)
    two = run(torch.where(labels == 1, -1, labels))  # class 1's pixels ignored
    assert three.item() == pytest.approx(two.item() * 2 / 3, rel=1e-6)  # the same two terms over 3, not 2
    only_one = run(torch.where(labels > 0, -1, labels))
    assert only_one is None or only_one.item() == 0.0


def test_u2pl_unlabeled_loss_is_the_kept_mean_scaled_by_all_over_kept(multiclass_task):
    """Official ``compute_unsupervised_loss``: weight (B h w / #kept) x CE averaged over the kept pixels."""
    logits = torch.randn(1, 4, 2, 2)
    target = torch.tensor([[[[0, 1], [2, 3]]]], dtype=torch.uint8)
    keep = torch.tensor([[[[True, False], [True, False]]]])
    ce = F.cross_entropy(logits, target[:, 0].long(), reduction="none").flatten()
    expected = (ce[0] + ce[2]) / 2 * (4 / 2)
    assert reliable_loss(logits, target, keep, multiclass_task).item() == pytest.approx(expected.item(), rel=1e-6)


# --- CrossMatch ------------------------------------------------------------------------------------

def test_crossmatch_partner_forward_is_eval_mode_with_feature_dropout_on(multiclass_task):
    """Official: ``model.eval()`` before the partner forwards, but ``PertDropout`` holds its Dropout2d in a
    plain list, so they stay in training mode: BN running statistics and active feature dropout."""
    obj, model = _bound(CrossMatch, multiclass_task)
    model.train()
    xm = obj.unlabeled_batch("partner")
    clean, weak, strong = obj.partner(model, xm)
    assert model.training  # the mode is restored
    eval_label, eval_conf = obj.pseudo(obj.predict_eval(model, xm))
    assert torch.equal(clean[0], eval_label) and torch.allclose(clean[1], eval_conf, atol=1e-6)
    with torch.no_grad():
        train_conf = obj.pseudo(model(xm))[1]
    assert not torch.allclose(clean[1], train_conf, atol=1e-4)  # not batch statistics
    assert not torch.allclose(weak[1], clean[1]) and not torch.allclose(strong[1], weak[1])  # dropout is on


# --- feature dropout from the objective's generator ------------------------------------------------

def test_channel_dropout_is_dropout2d_with_a_generator():
    x = torch.ones(400, 64, 2, 2)
    for p in (0.25, 0.5, 0.75):
        y = channel_dropout(x, p, _gen(1))
        dropped = (y[:, :, 0, 0] == 0).float().mean().item()
        assert dropped == pytest.approx(p, abs=0.02)
        assert torch.allclose(y[y != 0], torch.full_like(y[y != 0], 1 / (1 - p)))
        assert (y == y[:, :, :1, :1]).all()  # whole channels
        assert torch.equal(y, channel_dropout(x, p, _gen(1)))
    assert torch.equal(channel_dropout(x, 0.0, _gen()), x)


@pytest.mark.parametrize("cls", [UniMatch, CrossMatch])
def test_feature_dropout_ignores_the_global_rng(cls, multiclass_task):
    """Two objectives with the same seed give the same loss however the global RNG was used in between."""
    a, model_a = _bound(cls, multiclass_task, {"tau": 0.0})
    b, model_b = _bound(cls, multiclass_task, {"tau": 0.0})
    torch.manual_seed(1)
    loss_a, _ = a.loss(model_a, 0, 10)
    torch.manual_seed(2)
    torch.rand(1000)
    loss_b, _ = b.loss(model_b, 0, 10)
    assert torch.equal(loss_a, loss_b)
