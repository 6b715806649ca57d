import pytest
import torch

from imlib.models import LightUNet, count_parameters


@pytest.mark.parametrize("alpha, c_in, c_out, trainable, keras", [
    (0.5, 3, 1, 170_809, 171_561),  # ISIC
    (1.0, 3, 9, 680_313, 681_817),  # SUIM
    (1.0, 1, 3, 680_179, 681_683),  # HeLa
    (2.0, 3, 35, 2_715_715, 2_718_723),  # legacy Cityscapes at alpha 2
])
def test_parameter_counts_match_the_paper(alpha, c_in, c_out, trainable, keras):
    m = LightUNet(c_in, c_out, alpha)
    assert count_parameters(m) == trainable
    assert count_parameters(m, include_bn_statistics=True) == keras


def test_architecture_details():
    m = LightUNet(3, 2, 0.5)
    bns = [x for x in m.modules() if isinstance(x, torch.nn.BatchNorm2d)]
    assert bns and all(b.momentum == 0.01 and b.eps == 1e-3 for b in bns)  # Keras 0.99 / 1e-3
    ups = [x for x in m.modules() if isinstance(x, torch.nn.Upsample)]
    assert len(ups) == 4 and all(u.mode == "nearest" for u in ups)
    convs = [x for x in m.modules() if isinstance(x, torch.nn.Conv2d)]
    assert all(not c.bias.detach().any() for c in convs)  # zero biases
    assert {c.kernel_size for c in convs} == {(1, 1), (3, 3)}


def test_input_is_scaled_inside_and_shapes():
    torch.manual_seed(0)
    m = LightUNet(3, 4, 0.25).eval()
    x = torch.randint(0, 256, (2, 3, 32, 48), dtype=torch.uint8)
    out = m(x)
    assert out.shape == (2, 4, 32, 48) and out.dtype == torch.float32
    assert torch.allclose(out, m(x.float()))  # uint8 and float 0..255 give the same result
    with pytest.raises(ValueError, match="divisible by 16"):
        m(torch.zeros(1, 3, 30, 32, dtype=torch.uint8))
