"""UniMatch V2's DINOv2-S/14 + DPT segmenter and the loader for Meta's DINOv2 file."""
from __future__ import annotations

import pytest
import torch

from imlib.study_a.dpt import build_dinov2_dpt, default_indices, load_dinov2_weights
from imlib.study_a.models import SegOutput, count_parameters


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    return build_dinov2_dpt(depth=2).eval()


@pytest.mark.parametrize("h, w", [(56, 56), (56, 112), (98, 70)])
def test_logits_come_back_at_the_input_size(net, h, w):
    with torch.no_grad():
        assert net(torch.randn(2, 3, h, w)).shape == (2, 19, h, w)


def test_sizes_not_divisible_by_14_are_refused_helpfully(net):
    with pytest.raises(ValueError, match=r"56x60 .*multiples of 14 \(e\.g\. 798"):
        net(torch.randn(1, 3, 56, 60))


def test_extras_give_the_deepest_feature_map_as_rep_and_no_aux(net):
    with torch.no_grad():
        out = net(torch.randn(1, 3, 56, 70), extras=True)
    assert isinstance(out, SegOutput) and out.logits.shape == (1, 19, 56, 70)
    assert out.aux is None and out.rep.shape == (1, 384, 4, 5)


def test_perturb_sees_the_four_maps_and_can_double_the_batch(net):
    seen = []

    def perturb(maps):
        seen.extend(tuple(maps[i].shape) for i in net.perturbed_features)
        return [torch.cat([m, torch.zeros_like(m)]) for m in maps]

    with torch.no_grad():
        assert net(torch.randn(2, 3, 56, 112), perturb=perturb).shape == (4, 19, 56, 112)
    assert net.backbone.num_prefix_tokens == 1  # the class token, dropped from the maps; no registers
    assert seen == [(2, 384, 4, 8)] * 4 and net.output_stride == 14


def test_default_indices_spread_evenly_and_end_at_the_last_block():
    assert default_indices(12) == [2, 5, 8, 11] and default_indices(4) == [0, 1, 2, 3]
    assert default_indices(2) == [0, 0, 1, 1]
    with pytest.raises(ValueError, match="four block indices"):
        build_dinov2_dpt(depth=2, indices=[0, 1, 2, 3])


def test_param_groups_put_the_backbone_at_lr_and_the_head_at_the_multiplier(net):
    backbone, head = net.param_groups(5e-6, 40.0, 0.01)
    assert (backbone["lr"], head["lr"], head["weight_decay"]) == (5e-6, pytest.approx(2e-4), 0.01)
    assert {id(p) for p in backbone["params"]} == {id(p) for p in net.backbone.parameters()}
    assert len(backbone["params"]) + len(head["params"]) == len(list(net.parameters()))


def test_every_parameter_gets_a_gradient():
    """DDP runs without find_unused_parameters, so no parameter may sit idle (V2's unused unit is left out)."""
    small = build_dinov2_dpt(num_classes=3, depth=2, features=8, out_channels=(4, 4, 8, 8))
    small(torch.randn(1, 3, 42, 42)).sum().backward()
    assert [n for n, p in small.named_parameters() if p.grad is None] == []


def _meta_layout(depth: int) -> dict:
    """A Meta-layout state dict built from a timm model's tensors (the names coincide; Meta adds mask_token)."""
    torch.manual_seed(1)
    state = {k: v.clone() for k, v in build_dinov2_dpt(depth=depth).backbone.state_dict().items()}
    state["mask_token"] = torch.zeros(1, 384)
    return state


def test_meta_file_loads_into_timm_names(tmp_path):
    state = _meta_layout(2)
    assert {"cls_token", "blocks.0.attn.qkv.weight", "blocks.1.ls2.gamma"} <= set(state)
    assert state["pos_embed"].shape == (1, 1370, 384)
    torch.save(state, tmp_path / "dinov2.pth")
    fresh = build_dinov2_dpt(depth=2)
    report = load_dinov2_weights(fresh, tmp_path / "dinov2.pth")
    assert report["skipped"] == ["mask_token"] and report["loaded"] == len(state) - 1
    assert all(torch.equal(v, state[k]) for k, v in fresh.backbone.state_dict().items())


def test_deeper_file_needs_allow_truncate(tmp_path):
    torch.save(_meta_layout(3), tmp_path / "deep.pth")
    with pytest.raises(ValueError, match="deep.pth.*allow_truncate"):
        load_dinov2_weights(build_dinov2_dpt(depth=2), tmp_path / "deep.pth")
    report = load_dinov2_weights(build_dinov2_dpt(depth=2), tmp_path / "deep.pth", allow_truncate=True)
    assert "blocks.2.norm1.weight" in report["skipped"]


def test_missing_and_misshaped_keys_are_refused_naming_the_file(tmp_path):
    state = _meta_layout(2)
    del state["norm.weight"]
    torch.save(state, tmp_path / "missing.pth")
    with pytest.raises(ValueError, match=r"missing\.pth.*missing: \['norm\.weight'\]"):
        load_dinov2_weights(build_dinov2_dpt(depth=2), tmp_path / "missing.pth")
    state = _meta_layout(2)
    state["pos_embed"] = torch.zeros(1, 257, 384)  # a 224-px grid
    torch.save(state, tmp_path / "shape.pth")
    with pytest.raises(ValueError, match=r"shape\.pth.*wrong shape: \['pos_embed'\]"):
        load_dinov2_weights(build_dinov2_dpt(depth=2), tmp_path / "shape.pth")


def test_full_backbone_matches_the_measured_vit_s_size():
    assert count_parameters(build_dinov2_dpt().backbone) == pytest.approx(22.1e6, rel=0.01)  # study_a.md §3
