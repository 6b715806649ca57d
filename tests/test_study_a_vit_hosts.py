"""The DINOv2 hosts' own pieces: UniMatch V2's EMA schedule and complementary channel dropout, SegKC's two
knowledge-consultation losses on hand-made tensors, and how the engine and config treat both hosts."""
from __future__ import annotations

import math

import pytest
import torch

from imlib.study_a.batches import LabeledBatch, UnlabeledBatch
from imlib.study_a.config import make_config
from imlib.study_a.engine import make_optimizer
from imlib.study_a.hosts import get_host
from imlib.study_a.hosts.segkc import CHOICES, SegKC, feature_consultation, prediction_consultation
from imlib.study_a.hosts.unimatch_v2 import UniMatchV2, complementary_channel_dropout
from imlib.study_a.plugin import teacher_network


def v2_host(seed: int = 0) -> UniMatchV2:
    torch.manual_seed(seed)
    net = UniMatchV2.build_net("dinov2-s14-d1", 5)
    return UniMatchV2(net, 5, None, torch.device("cpu"), torch.Generator().manual_seed(seed), 1000, 100)


# --- UniMatch V2 ------------------------------------------------------------------------------------------

def test_v2_ema_decay_is_min_of_warmup_and_0996_over_parameters_and_buffers():
    host = v2_host()
    student, teacher = host.net, host.teacher
    for t, expected in ((0, 0.0), (1, 0.5), (9, 0.9), (249, 0.996), (10_000, 0.996)):
        with torch.no_grad():
            for p in teacher.parameters():
                p.fill_(1.0)
            for p in student.parameters():
                p.fill_(3.0)
        host.after_step(t)
        got = next(teacher.parameters())
        assert torch.allclose(got, torch.full_like(got, 1.0 * expected + 3.0 * (1 - expected)), atol=1e-6), t
    assert UniMatchV2.RECIPE.ema == 0.996 and UniMatchV2.RECIPE.ema_buffers


def test_complementary_dropout_gives_the_two_views_disjoint_channels():
    g = torch.Generator().manual_seed(0)
    pairs, channels = 8, 64
    m = complementary_channel_dropout(pairs, channels, g, "cpu")
    first, second = m[:pairs], m[pairs:]
    assert m.shape == (2 * pairs, channels)
    assert torch.equal(first + second, torch.full_like(first, 2.0))  # complementary in every pair
    undropped = (first == 1).all(1)
    assert int(undropped.sum()) == pairs // 2  # half of the pairs keep every channel
    dropped = first[~undropped]
    assert set(dropped.unique().tolist()) == {0.0, 2.0}  # the others: channels kept x2 or dropped
    assert 0.3 < float((dropped == 2).float().mean()) < 0.7
    assert int(complementary_channel_dropout(5, 4, g, "cpu", keep_share=0.5)[:5].eq(1).all(1).sum()) == 2


def test_v2_perturbs_only_the_strong_forward_with_one_mask_for_all_four_maps():
    host = v2_host()
    calls = []
    net = host.net

    def recording(x, **kw):
        calls.append((len(x), kw.get("perturb")))
        return net(x, **kw)

    host.model = recording
    image = torch.randint(0, 256, (2, 3, 28, 28), dtype=torch.uint8)
    none = torch.zeros(2, 28, 28, dtype=torch.bool)
    host.loss(LabeledBatch(image, torch.zeros(2, 28, 28, dtype=torch.long)), UnlabeledBatch(image, none, none), None, 0)
    (n_labeled, p_labeled), (n_strong, p_strong) = calls
    assert (n_labeled, p_labeled) == (2, None) and n_strong == 4 and p_strong is not None
    out = host.comp_drop(2)([torch.ones(4, 384, 2, 2) for _ in range(4)])
    assert all(torch.equal(out[0], o) for o in out)  # one mask for all four maps
    assert torch.equal(out[0][:2] + out[0][2:], torch.full_like(out[0][:2], 2.0))
    assert host.options["conf_thresh"] == 0.95


# --- SegKC's losses on hand-made tensors ---------------------------------------------------------------------

def test_feature_consultation_is_zero_for_aligned_maps_and_two_for_orthogonal_ones():
    target = torch.zeros(1, 2, 1, 2)
    target[0, 0] = 1.0  # both pixels point along channel 0
    aligned = target * 3.0  # the same direction at another scale
    assert float(feature_consultation(aligned, target)) == pytest.approx(0.0)
    orthogonal = torch.zeros(1, 2, 1, 2)
    orthogonal[0, 1] = 5.0
    assert float(feature_consultation(orthogonal, target)) == pytest.approx(2.0)  # |e1 - e0|^2
    half = torch.cat([aligned[..., :1], orthogonal[..., 1:]], -1)
    assert float(feature_consultation(half, target)) == pytest.approx(1.0)  # the mean over the pixels


def test_feature_consultation_teaches_only_the_consulting_side():
    projected = torch.randn(1, 4, 3, 3, requires_grad=True)
    target = torch.randn(1, 4, 3, 3, requires_grad=True)
    feature_consultation(projected, target).backward()
    assert projected.grad is not None and projected.grad.abs().sum() > 0
    assert target.grad is None


def test_prediction_consultation_is_the_kl_of_the_others_softmax():
    # one pixel, two classes: own logits (0, 0) -> p = (1/2, 1/2); the other's (ln 3, 0) -> q = (3/4, 1/4)
    own = torch.zeros(1, 2, 1, 1, requires_grad=True)
    other = torch.tensor([math.log(3.0), 0.0]).view(1, 2, 1, 1)
    keep = torch.ones(1, 1, 1, dtype=torch.bool)
    kl = 0.75 * math.log(0.75 / 0.5) + 0.25 * math.log(0.25 / 0.5)
    assert float(prediction_consultation(own, other, keep).detach()) == pytest.approx(kl, rel=1e-5)
    assert float(prediction_consultation(other, other, keep)) == pytest.approx(0.0, abs=1e-7)
    # temperature 2: softmax(x / 2) and the T^2 factor
    q2 = torch.tensor([math.sqrt(3.0), 1.0]) / (math.sqrt(3.0) + 1)
    kl2 = float((q2 * (q2 / 0.5).log()).sum())
    assert float(prediction_consultation(own, other, keep, temperature=2.0).detach()) == pytest.approx(4 * kl2, rel=1e-5)
    prediction_consultation(own, other, keep).backward()
    assert own.grad[0, 0, 0, 0] < 0  # pulled towards the other's class 0


def test_prediction_consultation_averages_over_kept_pixels_only():
    own = torch.zeros(1, 2, 1, 2)
    other = torch.zeros(1, 2, 1, 2)
    other[0, 0, 0, 1] = 50.0  # the second pixel disagrees strongly
    keep = torch.tensor([[[True, False]]])
    assert float(prediction_consultation(own, other, keep)) == pytest.approx(0.0, abs=1e-7)
    assert float(prediction_consultation(own, other, torch.zeros_like(keep))) == 0.0


def test_segkc_reports_its_junior_and_its_junior_labels_as_a_teacher():
    assert SegKC.reported({"junior": 60.0, "senior": 70.0}) == {"junior": 60.0}
    assert get_host("unimatch").reported({"student": 1.0}) == {"student": 1.0}
    assert teacher_network("segkc") == "junior" and teacher_network("unimatch_v2") == "teacher"
    assert "re-implementation" in SegKC.RECIPE.source and "no public code" in CHOICES["status"]
    with pytest.raises(ValueError, match="DINOv2 encoder"):
        make_config("smoke", host="segkc", options={"senior_encoder": "resnet50"})


# --- engine and config -------------------------------------------------------------------------------------

def test_each_host_gets_its_optimiser():
    w = torch.nn.Parameter(torch.zeros(2))
    adamw = make_optimizer([{"params": [w], "lr": 5e-6}], UniMatchV2.RECIPE, 5e-6)
    assert isinstance(adamw, torch.optim.AdamW)
    assert adamw.defaults["betas"] == (0.9, 0.999) and adamw.defaults["weight_decay"] == 0.01
    sgd = make_optimizer([{"params": [w], "lr": 0.005}], get_host("unimatch").RECIPE, 0.005)
    assert isinstance(sgd, torch.optim.SGD) and sgd.defaults["momentum"] == 0.9


def test_vit_hosts_take_patch_multiples_and_the_paper_sizes():
    paper = make_config("paper", host="unimatch_v2")
    assert (paper.resolved("encoder"), paper.resolved("crop"), paper.resolved("eval_window")) == ("dinov2-s14", 798, 798)
    assert make_config("paper", host="unimatch").resolved("encoder") == "resnet50"
    smoke = make_config("smoke", host="segkc", options={"conf_thresh": 0.5})
    assert smoke.resolved("encoder") == "dinov2-s14-d4" and smoke.crop == 56
    assert smoke.options["senior_encoder"] == "dinov2-b14-d4" and smoke.options["conf_thresh"] == 0.5
    with pytest.raises(ValueError, match="crop 64 is not a multiple of 14"):
        make_config("smoke", host="unimatch_v2", crop=64)
