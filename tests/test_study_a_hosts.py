"""Study A hosts on CPU: the shared losses, and each host's step on a ResNet-18 DeepLabV3+ at 64 x 64 (the
DINOv2 hosts: 2-block ViTs at 56 x 56)."""
from __future__ import annotations

import copy
import io

import pytest
import torch
import torch.nn.functional as F

from imlib.study_a.batches import IGNORE, LabeledBatch, UnlabeledBatch
from imlib.study_a.hosts import get_host, hosts
from imlib.study_a.losses import masked_ce, ohem_cross_entropy, online_im_mask, per_image_ce

HOSTS = hosts()  # the registered hosts, in the paper's row order

SIZE, CLASSES = 64, 19
# U2PL at test size: a small bank, and anchors at any probability so that L_c is active from the first step;
# SegKC with a 1-block ViT-B senior
SMALL = {"u2pl": {"queries": 16, "negatives": 8, "bank_size": 64, "bank_size_background": 64, "prob_threshold": 0.0},
         "segkc": {"senior_encoder": "dinov2-b14-d1"}}
VIT_HOSTS = ("unimatch_v2", "segkc")
VIT_SIZE = 56  # DINOv2 inputs are multiples of the patch (14)
EMA_HOSTS = ("u2pl", "imas", "unimatch_v2")


# --- losses ---------------------------------------------------------------------------------------

def test_ohem_ignores_255():
    logits = torch.randn(2, 5, 8, 8)
    target = torch.randint(0, 5, (2, 8, 8))
    target[:, :3] = IGNORE
    changed = logits.clone()
    changed[:, :, :3] = torch.randn(2, 5, 3, 8) * 10
    a = ohem_cross_entropy(logits, target, thresh=0.7, min_kept=20)
    assert torch.allclose(a, ohem_cross_entropy(changed, target, thresh=0.7, min_kept=20))


def test_ohem_keeps_the_hardest_min_kept_pixels():
    logits = torch.randn(1, 4, 10, 10) * 3
    target = torch.randint(0, 4, (1, 10, 10))
    ce = F.cross_entropy(logits, target, reduction="none").flatten()
    hardest = ce.sort(descending=True).values
    # threshold 0: exactly the min_kept hardest pixels (lowest target probability) stay in
    assert torch.allclose(ohem_cross_entropy(logits, target, thresh=0.0, min_kept=30), hardest[:30].mean())
    # threshold 1: every pixel passes it
    assert torch.allclose(ohem_cross_entropy(logits, target, thresh=1.0, min_kept=30), ce.mean())
    # otherwise the pixels at or below max(thresh, 30th smallest probability)
    p = (-ce).exp()
    kept = p <= max(0.3, float(p.sort().values[29]))
    assert int(kept.sum()) >= 30
    assert torch.allclose(ohem_cross_entropy(logits, target, thresh=0.3, min_kept=30), ce[kept].mean())


def test_ohem_is_plain_ce_when_min_kept_covers_every_valid_pixel():
    logits = torch.randn(2, 6, 8, 8, requires_grad=True)
    target = torch.randint(0, 6, (2, 8, 8))
    target[0, :2] = IGNORE
    got = ohem_cross_entropy(logits, target, thresh=1.0, min_kept=10_000)
    assert torch.allclose(got, F.cross_entropy(logits, target, ignore_index=IGNORE))


def test_ohem_of_an_all_ignored_batch_is_zero():
    logits = torch.randn(2, 4, 8, 8, requires_grad=True)
    loss = ohem_cross_entropy(logits, torch.full((2, 8, 8), IGNORE), min_kept=5)
    loss.backward()
    assert float(loss.detach()) == 0.0 and torch.isfinite(logits.grad).all()


def test_masked_ce_divides_by_the_given_count():
    logits = torch.randn(1, 3, 4, 4)
    target = torch.randint(0, 3, (1, 4, 4))
    keep = torch.zeros(1, 4, 4, dtype=torch.bool)
    keep[0, 0] = True
    ce = F.cross_entropy(logits, target, reduction="none")
    assert torch.allclose(masked_ce(logits, target, keep, 10), ce[keep].sum() / 10)
    assert torch.allclose(per_image_ce(logits, target, keep), ce[keep].sum().view(1) / 16)
    assert float(masked_ce(logits, target, keep & False, torch.tensor(0))) == 0.0


def test_online_im_mask_marks_disagreements():
    a = torch.zeros(1, 3, 2, 2)
    b = torch.zeros(1, 3, 2, 2)
    a[0, 1] = 1.0  # a says class 1 everywhere
    b[0, 1, 0] = 1.0  # b says 1 in the top row
    b[0, 2, 1] = 1.0  # and 2 in the bottom row
    assert online_im_mask(a, b).tolist() == [[[False, False], [True, True]]]


# --- hosts ----------------------------------------------------------------------------------------

def pattern(b: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Images of three colour regions whose boundaries move with the seed, and their labels."""
    g = torch.Generator().manual_seed(seed)
    label = torch.zeros(b, SIZE, SIZE, dtype=torch.long)
    for i in range(b):
        top, mid = int(torch.randint(8, 24, (1,), generator=g)), int(torch.randint(20, 44, (1,), generator=g))
        label[i, :, mid:] = 1
        label[i, :top] = 2
    colours = torch.tensor([[200, 60, 60], [60, 60, 200], [60, 200, 60]])
    noise = torch.randint(-20, 21, (b, SIZE, SIZE, 3), generator=g)
    image = (colours[label] + noise).clamp(0, 255).to(torch.uint8).permute(0, 3, 1, 2).contiguous()
    return image, label


def unlabeled_batch(seed: int) -> UnlabeledBatch:
    image, _ = pattern(2, seed)
    ignore = torch.zeros(2, SIZE, SIZE, dtype=torch.bool)
    ignore[1, -16:-10] = True  # crop padding: a black band never part of a loss (inside the ViT hosts' 56 px)
    image[1, :, -16:-10] = 0
    return UnlabeledBatch(image, ignore, torch.zeros_like(ignore))


@pytest.fixture(scope="module")
def batches():
    image, label = pattern(2, 0)
    label[:, -2:] = IGNORE
    return LabeledBatch(image, label), unlabeled_batch(1), unlabeled_batch(2)


def make_host(key: str, variant: str = "none", seed: int = 0, total_steps: int = 100, **options):
    cls = get_host(key)
    torch.manual_seed(seed)
    net = cls.build_net("dinov2-s14-d2" if key in VIT_HOSTS else "resnet18", CLASSES)
    gen = torch.Generator().manual_seed(seed)
    return cls(net, CLASSES, {**SMALL.get(key, {}), **options}, torch.device("cpu"), gen, 2000, total_steps,
               variant=variant)


def fit(host, batches):
    """The batches at the host's input size (the ViT hosts take a 56 x 56 corner)."""
    if host.key not in VIT_HOSTS:
        return batches
    c = slice(0, VIT_SIZE)
    labeled, *unlabeled = batches
    return (LabeledBatch(labeled.image[..., c, c], labeled.label[..., c, c]),
            *(UnlabeledBatch(u.image[..., c, c], u.ignore[..., c, c], u.im_mask[..., c, c]) for u in unlabeled))


def optimizer_of(host, lr: float = 0.01):
    """SGD over everything the host trains (the student and, for SegKC, the senior and projectors)."""
    extra = [p for g in host.extra_param_groups(lr, 1.0, 0.0) for p in g["params"]]
    return torch.optim.SGD(list(host.net.parameters()) + extra, lr=lr, momentum=0.9)


def step(host, batches, it: int, optimizer=None):
    labeled, unlabeled, partner = fit(host, batches)
    loss, parts = host.loss(labeled, unlabeled if host.uses_unlabeled else None,
                            partner if host.partner_batch else None, it)
    if optimizer is not None:
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        host.after_step(it)
    return loss, parts


def test_registry_order_and_error():
    assert list(HOSTS) == ["supervised", "u2pl", "unimatch", "imas", "unimatch_v2", "segkc"]
    with pytest.raises(ValueError, match="supervised, u2pl, unimatch, imas, unimatch_v2, segkc"):
        get_host("fixmatch")


@pytest.mark.parametrize("key", list(HOSTS))
def test_recipe_sizes_fit_the_output_stride(key):
    r = get_host(key).RECIPE
    assert r.crop % r.output_stride == 0 and r.eval_window % r.output_stride == 0
    assert r.eval_stride % r.output_stride == 0 and r.source
    assert (r.ema is not None) == (key in EMA_HOSTS)
    assert r.optimizer == ("adamw" if key in VIT_HOSTS else "sgd")


@pytest.mark.parametrize("key", list(HOSTS))
def test_host_trains_on_a_fixed_batch(key, batches):
    host = make_host(key)
    host.net.train()
    opt = optimizer_of(host)
    first, parts = step(host, batches, 0, opt)
    assert torch.isfinite(first) and parts and all(torch.isfinite(torch.as_tensor(v)) for v in parts.values())
    for it in range(1, 10):
        last, _ = step(host, batches, it, opt)
    assert float(last.detach()) < float(first.detach())
    models = host.eval_models()
    if key == "segkc":
        assert set(models) == {"junior", "senior"} and models["junior"] is host.net
        return
    assert set(models) == ({"student", "teacher"} if key in EMA_HOSTS else {"student"})
    assert models["student"] is host.net


@pytest.mark.parametrize("key", EMA_HOSTS)
def test_ema_teacher_follows_the_student(key):
    host = make_host(key)
    before = copy.deepcopy(host.teacher.state_dict())
    with torch.no_grad():  # as an optimiser step would
        for p in host.net.parameters():
            p.add_(1.0)
    host.after_step(5)
    for k, v in host.teacher.named_parameters():
        assert torch.allclose(v, before[k] + (1 - 5 / 6), atol=1e-6), k  # decay min(1 - 1 / (t + 1), ema) = 5 / 6


def _bn_buffers(model):
    return {k: v.clone() for k, v in model.state_dict().items() if k.endswith("running_mean")}


def test_u2pl_teacher_keeps_its_own_bn_statistics(batches):
    host = make_host("u2pl")
    host.net.train()
    before = _bn_buffers(host.teacher)
    step(host, batches, 0)  # the teacher's train-mode forward updates its statistics
    after_forward = _bn_buffers(host.teacher)
    assert any(not torch.equal(before[k], after_forward[k]) for k in before)
    for name, buf in host.net.named_buffers():
        if name.endswith("running_mean"):
            buf.fill_(5.0)
    host.after_step(3)
    assert all(torch.equal(after_forward[k], v) for k, v in _bn_buffers(host.teacher).items())


def test_imas_teacher_averages_bn_statistics():
    host = make_host("imas")
    for name, buf in host.net.named_buffers():
        if name.endswith("running_mean"):
            buf.fill_(5.0)
    host.after_step(3)
    assert all(bool((v > 0).all()) for v in _bn_buffers(host.teacher).values())


UNSUP_PARTS = {"u2pl": ("unsup",), "unimatch": ("s1", "s2", "fp"), "imas": ("unsup",),
               "unimatch_v2": ("s1", "s2"), "segkc": ("cps_junior", "cps_senior", "pred_junior", "pred_senior")}
EVERY_PIXEL = {"imas": {"tau": 0.0}, "unimatch_v2": {"conf_thresh": 0.0}, "segkc": {"conf_thresh": 0.0}}


@pytest.mark.parametrize("key", list(UNSUP_PARTS))
def test_variant_m_drops_the_masked_pixels(key, batches):
    labeled, unlabeled, partner = batches
    masked = [UnlabeledBatch(u.image, u.ignore, torch.ones_like(u.ignore)) for u in (unlabeled, partner)]
    for variant, expect_zero in (("M", True), ("none", False)):  # the mask counts only under M
        host = make_host(key, variant, **EVERY_PIXEL.get(key, {}))
        host.net.train()
        _, parts = step(host, (labeled, *masked), 0)
        zero = all(float(parts[p]) == 0.0 for p in UNSUP_PARTS[key])
        assert zero == expect_zero, (variant, parts)


def test_u2pl_contrast_never_reads_excluded_pixels():
    host = make_host("u2pl")
    g = torch.Generator().manual_seed(0)
    nl, h = 2, 16
    yl = torch.randint(0, 3, (nl, SIZE, SIZE), generator=g)

    def contrast(valid_u, seed):
        u = torch.Generator().manual_seed(seed)
        rep_u, t_rep_u = torch.randn(2, 2, 256, h, h, generator=u)
        rep = torch.cat([torch.randn(nl, 256, h, h, generator=torch.Generator().manual_seed(9)), rep_u])
        t_rep = torch.cat([rep[:nl] * 0.9, t_rep_u])
        logits_l = torch.randn(nl, CLASSES, SIZE, SIZE, generator=torch.Generator().manual_seed(8))
        logits_l = logits_l + 6 * F.one_hot(yl, CLASSES).permute(0, 3, 1, 2)
        logits = torch.cat([logits_l, torch.randn(2, CLASSES, SIZE, SIZE, generator=u) * 3])
        probs = logits.softmax(1)
        lab_u = probs[nl:].argmax(1)
        ent_u = -(probs[nl:] * probs[nl:].log()).sum(1)
        host.bank = type(host.bank)(CLASSES, 256, 64, "cpu")
        host.gen.manual_seed(3)
        return host.contrast(rep, t_rep, yl, lab_u, valid_u, ent_u, probs, 0.2)

    none = torch.zeros(2, SIZE, SIZE, dtype=torch.bool)
    labeled_only = contrast(none, 1)
    assert float(labeled_only) > 0  # the labeled pixels still give anchors and negatives
    assert torch.equal(labeled_only, contrast(none, 2))  # the unlabeled content is irrelevant when excluded
    every = torch.ones_like(none)
    assert not torch.equal(contrast(every, 1), contrast(every, 2))


def test_variant_o_runs_where_supported_and_fails_elsewhere(batches):
    for key, cls in HOSTS.items():
        if cls.online_im is None:
            with pytest.raises(ValueError, match="variant O"):
                make_host(key, "O")
            continue
        host = make_host(key, "O")
        if hasattr(host, "teacher"):  # a teacher that differs from the student, as after some training
            with torch.no_grad():
                for p in host.teacher.parameters():
                    p.add_(0.1 * torch.randn_like(p))
        host.net.train()
        loss, parts = step(host, batches, 0)
        padding = float(batches[1].ignore.float().mean())
        assert torch.isfinite(loss) and float(parts["excluded"]) > padding, key
    with pytest.raises(ValueError):
        make_host("supervised", "M")
    with pytest.raises(ValueError):
        make_host("unimatch", "X")


@pytest.mark.parametrize("key", list(HOSTS))
def test_state_dict_round_trip(key, batches):
    host = make_host(key)
    host.net.train()
    step(host, batches, 0, optimizer_of(host))
    buffer = io.BytesIO()
    torch.save({"net": host.net.state_dict(), "host": host.state_dict()}, buffer)
    buffer.seek(0)
    saved = torch.load(buffer, weights_only=False)
    twin = make_host(key, seed=1)
    twin.net.load_state_dict(saved["net"])
    twin.load_state_dict(saved["host"])
    twin.net.train()
    twin.gen.set_state(host.gen.get_state())
    torch.manual_seed(0)  # dropout inside the networks draws from the global RNG
    a, parts = step(host, batches, 2)
    torch.manual_seed(0)
    b, _ = step(twin, batches, 2)
    assert torch.equal(a, b)
    if key == "u2pl":
        assert float(parts["contrast"]) > 0  # the restored memory bank took part
