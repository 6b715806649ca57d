"""The semi-supervised baselines: what makes each one that method, checked by hand, and tiny runs."""
import math

import pytest
import torch
import torch.nn.functional as F

from imlib.data import SegData
from imlib.data.task import Task
from imlib.engine import TrainSettings, train_model
from imlib.methods.crossmatch import dropout_streams
from imlib.methods.fixmatch import FixMatch
from imlib.methods.fpl import concave_weight, fpl_loss, fpr_loss, fuzzy_positive_sets
from imlib.methods.imas import hardness
from imlib.methods.registry import methods

OBJECTIVES = {m.key: m.objective for m in methods(kind="semi-supervised")}
from imlib.methods.u2pl import U2PL, reliable_mask, unreliable_fraction
from imlib.methods.unimatch import UniMatch, unimatch_total
from imlib.models.unet import LightUNet
from imlib.semi.memory_bank import MemoryBank
from imlib.semi.pseudo import class_groups, confident_loss, entropy, label_and_confidence
from imlib.semi.teacher import ema_update, make_teacher
from imlib.semi.views import cutmix_boxes, mix, random_intensity, strong_view

CPU = torch.device("cpu")


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


# --- shared pieces ----------------------------------------------------------------------------------

def test_binary_confidence_is_distance_from_one_half(binary_task):
    p = torch.tensor([0.1, 0.5, 0.7, 0.96]).view(1, 1, 1, 4)
    label, conf = label_and_confidence(p, binary_task)
    assert label.flatten().tolist() == [0, 0, 1, 1]
    assert torch.allclose(conf.flatten(), torch.tensor([0.9, 0.5, 0.7, 0.96]))


def test_multiclass_confidence_and_groups(multiclass_task):
    p = torch.tensor([0.1, 0.6, 0.2, 0.1]).view(1, 4, 1, 1)
    label, conf = label_and_confidence(p, multiclass_task)
    assert label.item() == 1 and conf.item() == pytest.approx(0.6)
    assert len(class_groups(p, multiclass_task)) == 1
    h = -(p * p.log()).sum()
    assert entropy(p, multiclass_task).item() == pytest.approx(h.item(), rel=1e-5)


def test_multilabel_channels_are_two_class_groups(multilabel_task):
    p = torch.tensor([0.2, 0.9, 0.5]).view(1, 3, 1, 1)
    groups = class_groups(p, multilabel_task)
    assert len(groups) == 3 and torch.allclose(groups[0].flatten(), torch.tensor([0.8, 0.2]))
    assert entropy(p, multilabel_task).shape == (1, 3, 1, 1)
    assert entropy(p, multilabel_task)[0, 2].item() == pytest.approx(math.log(2), rel=1e-5)


def test_fixmatch_ignores_pixels_under_the_threshold(multiclass_task):
    logits = torch.randn(1, 4, 2, 2, requires_grad=True)
    target = torch.zeros(1, 1, 2, 2, dtype=torch.uint8)
    conf = torch.tensor([0.99, 0.5, 0.96, 0.94]).view(1, 1, 2, 2)
    loss = confident_loss(logits, target, conf, 0.95, multiclass_task)
    loss.backward()
    moved = logits.grad.abs().sum(1).flatten() > 0
    assert moved.tolist() == [True, False, True, False]
    # normalised by all pixels, not by the confident ones
    ce = F.cross_entropy(logits.detach(), target[:, 0].long(), reduction="none").flatten()
    assert loss.item() == pytest.approx((ce[0] + ce[2]).item() / 4, rel=1e-5)


def test_strong_view_changes_colours_not_geometry():
    g = _gen()
    x = torch.randint(0, 256, (16, 3, 32, 32), dtype=torch.uint8)
    y = strong_view(x, g)
    assert y.shape == x.shape and y.dtype == torch.uint8
    assert (y != x).float().mean() > 0.5
    flat = torch.zeros(4, 3, 8, 8, dtype=torch.uint8) + 100
    assert strong_view(flat, g, p_jitter=0.0, p_grey=0.0, p_blur=1.0).eq(100).all()  # blur keeps a flat image
    y = random_intensity(x, g)
    assert y.shape == x.shape and y.dtype == torch.uint8


def test_cutmix_boxes_respect_area_and_probability():
    g = _gen(1)
    boxes = cutmix_boxes(200, 40, 40, g, CPU, p=1.0, area=(0.1, 0.3))
    frac = boxes.flatten(1).float().mean(1)
    assert (frac > 0.05).all() and (frac <= 0.3 + 1e-6).all()
    assert not cutmix_boxes(10, 40, 40, g, CPU, p=0.0).any()
    a, b = torch.zeros(2, 1, 4, 4), torch.ones(2, 1, 4, 4)
    box = torch.zeros(2, 4, 4, dtype=torch.bool)
    box[0, :2, :2] = True
    assert mix(a, b, box).sum() == 4


def test_ema_teacher_follows_the_published_warmup():
    student = torch.nn.Linear(2, 1)
    teacher = make_teacher(student)
    with torch.no_grad():
        student.weight.fill_(1.0)
        teacher.weight.fill_(0.0)
    assert ema_update(teacher, student, step=0, momentum=0.99) == 0.0  # d = min(1 - 1/1, m): a copy
    assert torch.allclose(teacher.weight, student.weight)
    with torch.no_grad():
        teacher.weight.fill_(0.0)
    assert ema_update(teacher, student, step=999, momentum=0.99) == pytest.approx(0.99)
    assert torch.allclose(teacher.weight, torch.full_like(teacher.weight, 0.01))
    assert not any(p.requires_grad for p in teacher.parameters())


def test_memory_bank_is_a_fifo_per_class():
    bank = MemoryBank(2, 3, [4, 2], CPU)
    bank.push(0, torch.arange(9.).view(3, 3))
    bank.push(0, torch.arange(9., 18.).view(3, 3))
    assert len(bank.get(0)) == 4 and len(bank.get(1)) == 0
    kept = {tuple(r) for r in bank.get(0).tolist()}
    assert kept == {(6., 7., 8.), (9., 10., 11.), (12., 13., 14.), (15., 16., 17.)}  # the oldest two dropped
    bank.push(1, torch.ones(5, 3))
    assert len(bank.get(1)) == 2


# --- UniMatch and CrossMatch ----------------------------------------------------------------------

def test_unimatch_total_is_the_published_weighted_sum():
    assert unimatch_total(1.0, 2.0, 4.0, 8.0) == pytest.approx((1 + 0.25 * 2 + 0.25 * 4 + 0.5 * 8) / 2)


def _tiny(kind_task, n=16, size=32, seed=0):
    """Learnable toy scenes: a bright rectangle (class/channel 1, or 0 for binary) on a dark, noisy ground."""
    g = _gen(seed)
    c = kind_task.in_channels
    ys = torch.arange(size).view(1, -1, 1)
    xs = torch.arange(size).view(1, 1, -1)
    y0, x0 = torch.randint(0, size // 2, (2, n, 1, 1), generator=g)
    h, w = torch.randint(size // 4, size // 2, (2, n, 1, 1), generator=g)
    rect = (ys >= y0) & (ys < y0 + h) & (xs >= x0) & (xs < x0 + w)  # (n, size, size)
    noise = torch.randint(0, 40, (n, c, size, size), generator=g)
    images = (40 + 150 * rect[:, None] + noise).to(torch.uint8)
    if kind_task.kind == "multiclass":
        labels = rect[:, None].to(torch.uint8)
    elif kind_task.kind == "binary":
        labels = rect[:, None].to(torch.uint8)
    else:  # alive = the rectangle, dead and position empty
        labels = torch.cat([rect[:, None], torch.zeros(n, 2, size, size, dtype=torch.bool)], 1).to(torch.uint8)
    return SegData(images, labels)


def _model(task):
    return LightUNet(task.in_channels, task.num_outputs, alpha=0.25, bn_momentum=0.1)


def test_unimatch_objective_returns_the_weighted_sum_of_its_parts(multiclass_task):
    data = _tiny(multiclass_task)
    obj = UniMatch(data, data.images, multiclass_task, 4, {"tau": 0.0})
    model = _model(multiclass_task)
    obj.bind(model, CPU, 0)
    total, parts = obj.loss(model, 0, 10)
    assert total.item() == pytest.approx(unimatch_total(parts["sup"], parts["s1"], parts["s2"], parts["fp"]).item())
    assert parts["fp"].item() > 0  # tau 0: every pixel counts


def test_crossmatch_dropout_streams_differ(multiclass_task):
    torch.manual_seed(0)
    model = _model(multiclass_task)
    feats = model.encode(torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8, generator=_gen()))
    clean, weak, strong = dropout_streams(model, feats, (0.25, 0.75))
    assert not torch.allclose(clean, weak) and not torch.allclose(weak, strong)
    # Dropout2d drops whole channels at the published rates
    f = torch.ones(64, 256, 1, 1)
    assert (F.dropout2d(f, 0.25, training=True) == 0).float().mean() == pytest.approx(0.25, abs=0.02)
    assert (F.dropout2d(f, 0.75, training=True) == 0).float().mean() == pytest.approx(0.75, abs=0.02)


# --- FPL -------------------------------------------------------------------------------------------

def test_fpl_candidate_sets_grow_until_the_cumulative_probability_passes_tau():
    probs = torch.tensor([[0.95, 0.03, 0.01, 0.01],   # k = 1
                          [0.6, 0.35, 0.03, 0.02],    # 0.95 >= 0.9 at k = 2
                          [0.4, 0.3, 0.2, 0.1],       # never reaches 0.9 within 3: k = 3
                          [0.04, 0.02, 0.92, 0.02]]).view(4, 4, 1, 1)  # top class is not the first
    positive, k = fuzzy_positive_sets(probs, tau=0.9, max_k=3)
    assert k.flatten().tolist() == [1, 2, 3, 1]
    assert positive[:, :, 0, 0].tolist() == [[True, False, False, False], [True, True, False, False],
                                             [True, True, True, False], [False, False, True, False]]
    # two classes: the candidate set is always the top class (a negative must remain)
    _, k2 = fuzzy_positive_sets(torch.tensor([0.55, 0.45]).view(1, 2, 1, 1), tau=0.9)
    assert k2.item() == 1


def test_fpl_ranking_loss_on_a_hand_made_logit_vector():
    z = torch.tensor([2.0, 1.0, 0.0, -1.0]).view(1, 4, 1, 1)
    positive = torch.tensor([True, True, False, False]).view(1, 4, 1, 1)
    expected = math.log(1 + math.exp(math.log(math.exp(-2) + math.exp(-1)) + math.log(math.exp(0) + math.exp(-1))))
    assert fpr_loss(z, positive).item() == pytest.approx(expected, rel=1e-5)
    # two classes (0, z): the ranking loss is the logistic loss softplus(-z) for the positive class
    z2 = torch.tensor([0.0, 1.5]).view(1, 2, 1, 1)
    assert fpr_loss(z2, torch.tensor([False, True]).view(1, 2, 1, 1)).item() == pytest.approx(math.log1p(math.exp(-1.5)))


def test_fpl_concave_weight_and_rescaling(multiclass_task):
    probs = torch.tensor([[1.0, 0.0, 0.0, 0.0], [0.25, 0.25, 0.25, 0.25]]).view(2, 4, 1, 1)
    w = concave_weight(probs, torch.tensor([1, 3]).view(2, 1, 1))
    assert w.flatten().tolist() == pytest.approx([1.0, 0.0])  # certain: full weight; uniform: none
    logits = torch.randn(2, 4, 3, 3, requires_grad=True)
    teacher = torch.randn(2, 4, 3, 3).softmax(1)
    loss = fpl_loss(logits, teacher, multiclass_task)
    plain = F.cross_entropy(logits, teacher.argmax(1))
    assert loss.item() == pytest.approx(plain.item(), rel=1e-4)  # magnitude of the plain CE
    loss.backward()
    assert logits.grad.abs().sum() > 0


# --- iMAS ------------------------------------------------------------------------------------------

def test_imas_hardness_is_higher_for_agreeing_predictions(multiclass_task):
    torch.manual_seed(0)
    labels = torch.randint(0, 4, (2, 8, 8))
    sharp = F.one_hot(labels, 4).permute(0, 3, 1, 2).float() * 0.97 + 0.01
    other = F.one_hot((labels + 1) % 4, 4).permute(0, 3, 1, 2).float() * 0.97 + 0.01
    agree = hardness(sharp, sharp, multiclass_task, tau=0.7)
    disagree = hardness(sharp, other, multiclass_task, tau=0.7)
    assert torch.allclose(agree, torch.ones(2)) and (disagree < 0.5).all()
    # the same maps predicted without confidence count for less
    vague = F.one_hot(labels, 4).permute(0, 3, 1, 2).float() * 0.3 + 0.175
    assert (hardness(vague, vague, multiclass_task, tau=0.7) < agree).all()


def test_imas_hardness_binary(binary_task):
    p = torch.zeros(1, 1, 8, 8)
    p[..., :4, :] = 0.99
    q = torch.zeros(1, 1, 8, 8)
    q[..., :2, :] = 0.99
    assert hardness(p, p, binary_task, 0.7).item() == pytest.approx(1.0)
    assert hardness(p, q, binary_task, 0.7).item() == pytest.approx(0.5)  # IoU 16 / 32


# --- U2PL ------------------------------------------------------------------------------------------

def test_u2pl_schedule_decays_from_20_percent_to_zero():
    assert unreliable_fraction(0.0) == pytest.approx(0.2)
    assert unreliable_fraction(0.5) == pytest.approx(0.1)
    assert unreliable_fraction(1.0) == 0.0


def test_u2pl_drops_the_highest_entropy_percentile():
    ent = torch.randperm(100).float().view(1, 1, 10, 10)
    keep = reliable_mask(ent, 0.2)
    assert keep.sum() == 80 and ent[~keep].min() == 80
    assert reliable_mask(ent, 0.0).all()


def test_u2pl_contrast_fills_the_memory_bank(multiclass_task):
    data = _tiny(multiclass_task)
    obj = U2PL(data, data.images, multiclass_task, 4, {"sup_only_fraction": 0.0, "queries": 8, "negatives": 4})
    model = _model(multiclass_task)
    obj.bind(model, CPU, 0)
    total, parts = obj.loss(model, 0, 10)
    assert sum(obj.bank.size) > 0 and parts["contrast"].item() > 0
    total.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in obj.parameters())


# --- every method, every task kind -----------------------------------------------------------------

@pytest.mark.parametrize("method", sorted(OBJECTIVES))
@pytest.mark.parametrize("kind", ["binary", "multiclass", "multilabel"])
def test_every_baseline_trains_on_every_task_kind(method, kind, request):
    task = request.getfixturevalue(f"{kind}_task")
    data = _tiny(task, n=16, seed=1)
    obj = OBJECTIVES[method](data.subset(torch.arange(8)), data.images[8:], task, 4,
                             {"sup_only_fraction": 0.0} if method == "u2pl" else {})
    s = TrainSettings(epochs=4, batch_size=4, steps_per_epoch=6, lr=3e-3, progress=False)
    res = train_model(lambda: _model(task), obj, data.subset(torch.arange(8)), task, s, seed=0, device=CPU)
    assert all(math.isfinite(h["loss"]) for h in res.history)
    # U2PL's unlabeled terms grow from the start on noise images: its InfoNCE term starts near
    # log(1 + negatives) while the memory bank fills with ever more varied negatives, and more pixels
    # pass the entropy filter as the teacher sharpens; its labeled term must still fall. FPL's two
    # consistency terms (labeled and unlabeled, as the official) are measured against an EMA teacher
    # that is a near copy of the student in its warm-up epoch (decay 1 - 1 / (t + 1)) and only then
    # lags: they rise after the first epoch, so FPL is judged from its second epoch
    part = "sup" if method == "u2pl" else "loss"  # noqa: the U2PL case is argued above
    losses = [h[part] for h in res.history][1 if method == "fpl" else 0:]
    assert losses[-1] < losses[0], losses


# options that make every part of a method's loss active from the first step
RESUME_OPTIONS = {"u2pl": {"sup_only_fraction": 0.0}, "unimatch": {"tau": 0.0}, "crossmatch": {"tau": 0.0}}


@pytest.mark.parametrize("method", ["fixmatch", "u2pl", "unimatch", "crossmatch"])
def test_semi_supervised_training_resumes_exactly(method, multiclass_task, tmp_path):
    """Killed in its second epoch and run again, training ends with the same losses and weights (teacher,
    memory bank, random streams, feature-dropout masks and schedule all restored)."""
    data = _tiny(multiclass_task, n=16, seed=2)

    def run(ck=None, stop_at=None):
        obj = OBJECTIVES[method](data.subset(torch.arange(8)), data.images[8:], multiclass_task, 4,
                                 RESUME_OPTIONS.get(method, {}))
        if stop_at is not None:
            after = obj.after_step

            def interrupted(model, step):
                if step == stop_at:
                    raise KeyboardInterrupt
                after(model, step)
            obj.after_step = interrupted
        s = TrainSettings(epochs=3, batch_size=4, steps_per_epoch=2, progress=False)
        return train_model(lambda: _model(multiclass_task), obj, data.subset(torch.arange(8)), multiclass_task, s,
                           seed=5, device=CPU, checkpoint=ck)

    full = run()
    ck = tmp_path / "ck.pt"
    with pytest.raises(KeyboardInterrupt):
        run(ck, stop_at=3)
    resumed = run(ck)
    assert [h["loss"] for h in full.history] == [h["loss"] for h in resumed.history]
    for k, v in full.state.items():
        assert torch.equal(v, resumed.state[k]), k


def test_unknown_options_are_rejected(binary_task):
    data = _tiny(binary_task)
    with pytest.raises(ValueError, match="unknown options.*taus"):
        FixMatch(data, data.images, binary_task, 4, {"taus": 0.5})
