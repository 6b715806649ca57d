"""The Study A segmenter, its backbone files and the sliding-window evaluation."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from imlib.study_a.batches import normalize
from imlib.study_a.evaluation import confusion, miou, per_class_iou, predict_classes, sliding_window_probs
from imlib.study_a.models import build_segmenter, count_parameters
from imlib.study_a.weights import load_backbone


@pytest.mark.parametrize("stride, rates", [(16, (6, 12, 18)), (8, (12, 24, 36))])
def test_shapes_at_both_output_strides(stride, rates):
    net = build_segmenter("resnet18", output_stride=stride, atrous_rates=rates, aux_head=True, rep_dim=32).eval()
    out = net(torch.randn(2, 3, 64, 128), extras=True)
    assert out.logits.shape == (2, 19, 64, 128) and out.aux.shape == (2, 19, 64, 128)
    assert out.rep.shape == (2, 32, 16, 32)
    assert net(torch.randn(2, 3, 64, 64)).shape == (2, 19, 64, 64)


def test_perturb_goes_through_forward_and_can_grow_the_batch():
    net = build_segmenter("resnet18").eval()
    seen = []

    def perturb(feats):
        seen.extend(feats[i].shape[1] for i in net.perturbed_features)
        return [torch.cat([f, torch.zeros_like(f)]) for f in feats]

    assert net(torch.randn(2, 3, 64, 64), perturb=perturb).shape == (4, 19, 64, 64)
    assert seen == [64, 512]  # resnet18: the stride-4 features and the last ones, what the decoder reads


def test_param_groups_put_the_encoder_at_lr_and_the_rest_at_the_multiplier():
    net = build_segmenter("resnet18", aux_head=True)
    enc, head = net.param_groups(0.01, 10.0, 5e-4)
    assert (enc["lr"], head["lr"], enc["weight_decay"]) == (0.01, pytest.approx(0.1), 5e-4)
    assert sum(p.numel() for p in enc["params"]) == sum(p.numel() for p in net.model.encoder.parameters())
    assert len(enc["params"]) + len(head["params"]) == len(list(net.parameters()))
    assert any(p is q for p in head["params"] for q in net.aux.parameters())


def test_sizes_not_divisible_by_the_stride_are_refused_helpfully():
    with pytest.raises(ValueError, match="801 -> 800"):
        build_segmenter("resnet18")(torch.randn(2, 3, 65, 64))


@pytest.fixture(scope="module")
def smp_resnet50():
    return build_segmenter("resnet50")  # os16, rates 6/12/18, plain ASPP convs (the Supervised/UniMatch mapping)


def test_resnet50_matches_the_measured_parameter_count(smp_resnet50):
    assert count_parameters(smp_resnet50) == pytest.approx(39.2e6, rel=0.01)  # study_a.md §3


def test_deep_stem_has_the_hosts_keys_and_loads_their_file(tmp_path, smp_resnet50):
    # the hosts' resnet.py (UniMatch, U2PL, iMAS): conv1 = Sequential(conv, BN, ReLU, conv, BN, ReLU, conv), bn1 (128)
    net = build_segmenter("resnet50-deepstem")
    state = net.model.encoder.state_dict()
    assert list(state)[:2] == ["conv1.0.weight", "conv1.1.weight"]
    assert state["conv1.0.weight"].shape == (64, 3, 3, 3) and state["conv1.3.weight"].shape == (64, 64, 3, 3)
    assert state["conv1.6.weight"].shape == (128, 64, 3, 3) and state["bn1.weight"].shape == (128,)
    assert state["layer1.0.conv1.weight"].shape == (64, 128, 1, 1)
    assert state["layer1.0.downsample.0.weight"].shape == (256, 128, 1, 1)
    # the hosts' dilation rule (os16): the first block of layer4 keeps dilation 1, the others get 2
    assert net.model.encoder.layer4[0].conv2.dilation == (1, 1) and net.model.encoder.layer4[1].conv2.dilation == (2, 2)
    hosts_file = {k: torch.randn_like(v) if v.is_floating_point() else v for k, v in state.items()
                  if not k.endswith("num_batches_tracked")}  # files from old PyTorch lack the BN counters
    hosts_file["fc.weight"] = torch.zeros(1000, 2048)
    torch.save({"state_dict": {"module." + k: v for k, v in hosts_file.items()}}, tmp_path / "resnet50.pth")
    fresh = build_segmenter("resnet50-deepstem")
    info = load_backbone(fresh, tmp_path / "resnet50.pth")
    assert info["layout"] == "host-deepstem" and info["skipped"] == ["fc.weight"] and info["defaulted"]
    loaded = fresh.model.encoder.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in hosts_file.items() if k in loaded)
    # the same file does not fit smp's (torchvision) ResNet-50: named, not silently half-loaded
    with pytest.raises(ValueError, match="resnet50.pth.*(unexpected|wrong shape)"):
        load_backbone(smp_resnet50, tmp_path / "resnet50.pth")
    # a mis-shaped tensor and a missing one are refused, naming the file and the key
    bad = dict(hosts_file, **{"layer1.0.conv1.weight": torch.zeros(64, 64, 1, 1)})
    torch.save(bad, tmp_path / "shape.pth")
    with pytest.raises(ValueError, match=r"shape.pth.*wrong shape.*layer1.0.conv1.weight"):
        load_backbone(fresh, tmp_path / "shape.pth")
    del bad["layer1.0.conv1.weight"]
    torch.save(bad, tmp_path / "gap.pth")
    with pytest.raises(ValueError, match=r"gap.pth.*missing.*layer1.0.conv1.weight"):
        load_backbone(fresh, tmp_path / "gap.pth")
    # the flat stem naming (conv1, bn1, conv2, bn2, conv3, bn3) maps onto the same tensors
    flat_names = {"conv1.0.": "conv1.", "conv1.1.": "bn1.", "conv1.3.": "conv2.", "conv1.4.": "bn2.",
                  "conv1.6.": "conv3.", "bn1.": "bn3."}
    flat = {}
    for k, v in hosts_file.items():
        prefix = next((p for p in flat_names if k.startswith(p)), None)
        flat[flat_names[prefix] + k[len(prefix):] if prefix else k] = v + 1 if v.is_floating_point() else v
    torch.save(flat, tmp_path / "flat.pth")
    assert load_backbone(fresh, tmp_path / "flat.pth")["layout"] == "deepstem-flat"
    assert torch.equal(fresh.model.encoder.conv1[6].weight, hosts_file["conv1.6.weight"] + 1)
    assert torch.equal(fresh.model.encoder.bn1.running_mean, hosts_file["bn1.running_mean"] + 1)


def test_torchvision_layout_loads_and_a_missing_key_is_named(tmp_path, smp_resnet50):
    from torchvision.models import resnet50

    tv = resnet50(weights=None).state_dict()
    torch.save(tv, tmp_path / "tv.pth")
    net = smp_resnet50
    assert load_backbone(net, tmp_path / "tv.pth")["layout"] == "torchvision"
    assert torch.equal(net.model.encoder.layer4[2].conv3.weight, tv["layer4.2.conv3.weight"])
    del tv["layer2.0.bn1.running_var"]
    torch.save(tv, tmp_path / "broken.pth")
    with pytest.raises(ValueError, match=r"broken.pth.*missing.*layer2.0.bn1.running_var"):
        load_backbone(net, tmp_path / "broken.pth")


class Constant(nn.Module):
    """Logits that say class 1 everywhere (and count their calls)."""

    def __init__(self, classes: int = 3):
        super().__init__()
        self.classes, self.calls = classes, 0

    def forward(self, x):
        self.calls += 1
        out = torch.zeros(x.shape[0], self.classes, *x.shape[-2:])
        out[:, 1] = 5.0
        return out


def test_sliding_window_equals_whole_image_when_one_window_covers_it():
    torch.manual_seed(0)
    net = build_segmenter("resnet18").eval()
    x = normalize(torch.randint(0, 256, (1, 3, 64, 128), dtype=torch.uint8))
    with torch.no_grad():
        whole = net(x).softmax(1)
    assert torch.allclose(sliding_window_probs(net, x, window=128, stride=64, num_classes=19), whole, atol=1e-5)
    # an image smaller than the window in one dimension: padded to the stride's multiple, then cropped back
    small = normalize(torch.randint(0, 256, (1, 3, 48, 64), dtype=torch.uint8))
    with torch.no_grad():
        assert torch.allclose(sliding_window_probs(net, small, 64, 42, 19), net(small).softmax(1), atol=1e-5)


def test_shifted_full_windows_cover_every_pixel():
    model = Constant()
    probs = sliding_window_probs(model, torch.zeros(1, 3, 64, 128), window=64, stride=42, num_classes=3)
    counts = probs.sum(1)[0]  # each window adds a softmax that sums to 1
    assert model.calls == 3 and counts.min() >= 1 - 1e-6  # starts 0, 42 and 64 (flush with the border)
    assert torch.allclose(counts[:, :42], torch.ones(64, 42))


def test_confusion_never_counts_255_and_matches_a_hand_count():
    model = Constant()
    label = torch.tensor([[1, 1, 0, 255]] * 4)
    data = [{"image": torch.zeros(3, 4, 4, dtype=torch.uint8), "label": label}]
    cm = confusion(model, data, 3, window=16, stride=16, device="cpu", multiple=16)
    assert cm.sum() == 12 and cm[1, 1] == 8 and cm[0, 1] == 4
    assert per_class_iou(cm) == [0.0, pytest.approx(100 * 8 / 12), None] and miou(cm) == pytest.approx(100 / 3)
    all_void = [{"image": torch.zeros(3, 4, 4, dtype=torch.uint8), "label": torch.full((4, 4), 255)}]
    assert confusion(model, all_void, 3, 16, 16, "cpu").sum() == 0
    assert predict_classes(model, torch.zeros(3, 4, 4, dtype=torch.uint8), 16, 16, 3, "cpu").unique().tolist() == [1]
