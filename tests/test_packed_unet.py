"""K U-Nets packed into one grouped network train exactly as K separate U-Nets.

The packed convolutions sum in another order than K separate ones, so results agree to rounding, not bit for
bit: float32 forward passes to 1e-5 and gradients to 1e-4 of each tensor's largest value; weights after 5 AdamW steps in float64 to 1e-9 (in float32
Adam divides gradients that are rounding noise by their own size, which turns 1e-9 differences into
lr-sized ones on such weights, so the weights are compared in float64, where the noise is 1e-16).
"""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from imlib.models.unet import LightUNet, pack, split_outputs, stack_inputs, unpack

K, B, SIZE = 3, 4, 32
TOL = dict(rtol=1e-5, atol=1e-5)


def singles(alpha: float = 0.25, outputs: int = 2) -> list[LightUNet]:
    nets = []
    for seed in range(K):
        torch.manual_seed(seed)
        nets.append(LightUNet(3, outputs, alpha=alpha, bn_momentum=0.1))
    return nets


def batches(seed: int) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    images = [torch.randint(0, 256, (B, 3, SIZE, SIZE), dtype=torch.uint8, generator=g) for _ in range(K)]
    labels = [torch.randint(0, 2, (B, 1, SIZE, SIZE), dtype=torch.uint8, generator=g) for _ in range(K)]
    return images, labels


def test_packing_round_trips_and_keeps_the_parameter_layout():
    nets = singles()
    packed = pack(nets)
    assert packed.models == K
    assert sum(p.numel() for p in packed.parameters()) == K * sum(p.numel() for p in nets[0].parameters())
    for net, state in zip(nets, unpack(packed)):
        single = LightUNet(3, 2, alpha=0.25, bn_momentum=0.1)
        single.load_state_dict(state)
        for key, value in net.state_dict().items():
            assert torch.equal(value, single.state_dict()[key]), key


def test_each_packed_model_sees_only_its_own_input():
    packed = pack(singles()).eval()
    images, _ = batches(0)
    out = split_outputs(packed(stack_inputs(images)), K)
    images[1] = torch.zeros_like(images[1])  # change model 1's input only
    changed = split_outputs(packed(stack_inputs(images)), K)
    assert torch.equal(out[0], changed[0]) and torch.equal(out[2], changed[2])
    assert not torch.allclose(out[1], changed[1])


def test_packed_forward_and_gradients_equal_the_separate_ones_in_float32():
    nets = singles(outputs=1)
    packed = pack(nets)
    images, labels = batches(0)
    for net, x, y in zip(nets, images, labels):
        F.mse_loss(net(x).sigmoid(), y.float()).backward()
    logits = split_outputs(packed(stack_inputs(images)), K)
    sum(F.mse_loss(logits[k].sigmoid(), labels[k].float()) for k in range(K)).backward()
    grads = {name: p.grad for name, p in packed.named_parameters()}
    for k, net in enumerate(nets):
        for name, p in net.named_parameters():
            diff = (p.grad - grads[name].chunk(K)[k]).abs().max() / p.grad.abs().max().clamp_min(1e-12)
            assert diff < 1e-4, (name, float(diff))  # relative to the tensor's largest gradient
    with torch.no_grad():
        out = split_outputs(packed(stack_inputs(images)), K)
        for k, net in enumerate(nets):  # train mode: BatchNorm's batch statistics summed in another order
            single = net(images[k])
            assert (single - out[k]).abs().max() < 1e-5 * single.abs().max()


@pytest.mark.parametrize("kind", ["binary", "multiclass"])
def test_k_packed_models_end_with_the_weights_of_k_separate_runs(kind):
    outputs = 1 if kind == "binary" else 3

    def loss(logits, y):  # float64 throughout (imlib's task loss computes in float32)
        if kind == "binary":
            return F.mse_loss(logits.sigmoid(), y.double())
        return F.cross_entropy(logits, (y[:, 0].long() * 2).clamp(max=2))

    nets = [n.double() for n in singles(outputs=outputs)]
    packed = pack(nets)
    adamw = dict(lr=3e-3, weight_decay=1e-4 / 3e-3, eps=1e-7)
    separate_opts = [torch.optim.AdamW(n.parameters(), **adamw) for n in nets]
    packed_opt = torch.optim.AdamW(packed.parameters(), **adamw)
    for step in range(5):
        images, labels = batches(step)
        for net, opt, x, y in zip(nets, separate_opts, images, labels):
            opt.zero_grad()
            loss(net(x), y).backward()
            opt.step()
        logits = split_outputs(packed(stack_inputs(images)), K)
        packed_opt.zero_grad()
        sum(loss(logits[k], labels[k]) for k in range(K)).backward()  # each model's own mean loss
        packed_opt.step()
    for net, state in zip(nets, unpack(packed)):
        for key, value in net.state_dict().items():  # weights and BatchNorm running statistics
            assert torch.allclose(value.double(), state[key].double(), rtol=1e-9, atol=1e-9), key


def test_pack_refuses_mismatched_models():
    with pytest.raises(ValueError, match="one shape"):
        pack([LightUNet(3, 1, alpha=0.25), LightUNet(3, 1, alpha=0.5)])
    with pytest.raises(ValueError, match="at least 1"):
        LightUNet(3, 1, models=0)
