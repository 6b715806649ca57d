"""The IM core: hand-made cases where the right mask is known."""
import numpy as np
import pytest
import torch

from imlib.cell_positions import blob_centroids, disc_radii, draw_discs
from imlib.im import (apply_im, binary_im, ensemble_label, inconsistency_mask, keep_by_area, morph_mask,
                      multiclass_im, multilabel_im)


def as_probs(*binary_maps):
    """Teacher probabilities (n, 1, 1, H, W) from 0/1 maps: 1 -> 0.9, 0 -> 0.1."""
    return torch.stack([torch.tensor(m, dtype=torch.float32) * 0.8 + 0.1 for m in binary_maps])[:, None, None]


def test_paper_im_creation_example():
    """The README figure IM_creation, worked by hand: two teachers, sum 1 -> mask, sum 2 -> label."""
    a = [[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 1]]
    b = [[0, 1, 1, 0], [0, 1, 1, 0], [0, 0, 0, 0], [0, 0, 0, 1]]
    label, mask = binary_im(as_probs(a, b))
    assert label.shape == (1, 1, 4, 4) and label.dtype == torch.uint8
    assert mask.shape == (1, 4, 4) and mask.dtype == torch.bool
    s = np.array(a) + np.array(b)
    assert (mask[0].numpy() == (s == 1)).all()
    assert (label[0, 0].numpy() == (s == 2)).all()
    assert mask[0].sum() == 4 and label.sum() == 3  # sum 0 (unanimous background) is not masked


@pytest.mark.parametrize("n", [2, 3, 4])
def test_binary_partial_agreement_is_masked(n):
    h, w = 5, n + 1
    maps = [np.zeros((h, w)) for _ in range(n)]
    for k in range(n):  # column j is foreground for the first j teachers
        for j in range(n + 1):
            if k < j:
                maps[k][:, j] = 1
    label, mask = binary_im(as_probs(*maps))
    assert (mask[0, :, 0] == False).all() and (mask[0, :, n] == False).all()  # noqa: E712  S = 0 or n
    assert mask[0, :, 1:n].all()  # 0 < S < n
    assert label[0, 0, :, n].all() and label[0, 0, :, :n].sum() == 0


def test_binary_threshold_is_strict():
    p = torch.full((2, 1, 1, 2, 2), 0.5)
    label, mask = binary_im(p)  # 0.5 is not > 0.5: all teachers say background
    assert label.sum() == 0 and mask.sum() == 0


@pytest.mark.parametrize("n", [2, 3, 4])
def test_identical_teachers_give_an_empty_mask(n, multiclass_task, multilabel_task, binary_task):
    g = torch.Generator().manual_seed(n)
    for task, c in ((binary_task, 1), (multiclass_task, 4), (multilabel_task, 3)):
        one = torch.rand(1, 2, c, 8, 8, generator=g)
        if task.kind == "multiclass":
            one = one.softmax(2)
        res = inconsistency_mask(one.expand(n, -1, -1, -1, -1).clone(), task)
        assert res.mask.sum() == 0


@pytest.mark.parametrize("n", [2, 3, 4])
def test_multiclass_label_where_all_agree(n):
    base = torch.tensor([[1, 2, 3], [3, 2, 1]])
    maps = base.expand(n, 1, 2, 3).clone()
    maps[-1, 0, 0, 0] = 2  # one teacher disagrees at (0, 0)
    maps[0, 0, 1, 2] = 3  # another at (1, 2)
    label, mask = multiclass_im(maps, im_class=0, num_classes=4)
    expected_mask = torch.zeros(1, 2, 3, dtype=torch.bool)
    expected_mask[0, 0, 0] = expected_mask[0, 1, 2] = True
    assert torch.equal(mask, expected_mask)
    expected = base.clone()
    expected[0, 0] = expected[1, 2] = 0  # the reserved IM class
    assert torch.equal(label[0, 0].long(), expected)


def test_multiclass_from_probabilities_uses_argmax():
    p = torch.zeros(2, 1, 3, 1, 2)
    p[0, 0, 1, 0, 0] = p[1, 0, 1, 0, 0] = 1  # both say class 1 at pixel 0
    p[0, 0, 2, 0, 1] = p[1, 0, 1, 0, 1] = 1  # disagree at pixel 1
    label, mask = multiclass_im(p)
    assert label[0, 0, 0].tolist() == [1, 0] and mask[0, 0].tolist() == [False, True]


def test_multiclass_rejects_out_of_range_ids():
    maps = torch.tensor([[[[0, 5]]], [[[0, 1]]]])
    with pytest.raises(ValueError, match=r"class ids must lie in \[0, 4\)"):
        multiclass_im(maps, num_classes=4)


def test_multilabel_mask_is_union_and_discs_redrawn():
    h = w = 32
    alive = np.zeros((h, w))
    alive[2:6, 2:6] = 1
    dead_a, dead_b = np.zeros((h, w)), np.zeros((h, w))
    dead_b[20:24, 20:24] = 1  # teachers disagree on the dead channel only
    pos = np.zeros((h, w))
    pos[10:13, 10:13] = 1  # a 3x3 square blob at centre (11, 11)
    t1 = np.stack([alive, dead_a, pos])
    t2 = np.stack([alive, dead_b, pos])
    p = torch.tensor(np.stack([t1, t2]), dtype=torch.float32)[:, None]  # (2, 1, 3, H, W) with values 0/1
    label, mask = multilabel_im(p, position_channel=2)
    assert mask[0, 20:24, 20:24].all() and mask.sum() == 16  # union: only the dead disagreement
    assert label[0, 0].sum() == 16 and label[0, 1].sum() == 0
    # the lone blob becomes a disc of radius 8 (d_min = 99 -> floor(99/4) = 24 -> clamped to 8)
    assert torch.equal(label[0, 2].bool(), torch.from_numpy(draw_discs(np.array([[11, 11]]), np.array([8]), (h, w))))
    assert label[0, 2, 11, 19] == 1 and label[0, 2, 11, 20] == 0


def test_multilabel_threshold_is_inclusive():
    p = torch.full((2, 1, 3, 2, 2), 0.5)
    label, mask = multilabel_im(p)
    assert label.all() and mask.sum() == 0


def test_disc_radius_rule():
    c = np.array([[0, 0], [0, 10], [0, 50], [100, 100]])
    # nearest neighbours: 10, 10, 40, ~86 -> floor(d/4) = 2, 2, 10, 21 -> clamp to [3, 8]
    assert disc_radii(c).tolist() == [3, 3, 8, 8]
    assert disc_radii(np.array([[5, 5], [5, 33]])).tolist() == [7, 7]  # 28 / 4
    assert disc_radii(np.array([[5, 5]])).tolist() == [8]  # alone: d_min = 99
    disc = draw_discs(np.array([[10, 10]]), np.array([3]), (21, 21))
    assert disc.sum() == 29  # lattice points with x^2 + y^2 <= 9
    assert (blob_centroids(disc) == [[10, 10]]).all()


def test_morphology_erode_then_dilate():
    m = torch.zeros(1, 9, 9, dtype=torch.bool)
    m[0, 4, 4] = True  # an isolated pixel vanishes under a 3x3 erosion
    m[0, 0:5, 6:9] = True  # a 5x3 block at the border survives (outside counts as inside)
    e = morph_mask(m, erode=3)
    expected = torch.zeros(9, 9, dtype=torch.bool)
    expected[0:4, 7:9] = True  # inner edges (column 6, row 4) erode; the image border does not
    assert torch.equal(e[0], expected)
    d = morph_mask(m, dilate=3)
    assert d[0, 3:6, 3:6].all()
    assert torch.equal(morph_mask(m), m)
    with pytest.raises(ValueError, match="0 or odd"):
        morph_mask(m, erode=4)


def test_apply_blackout_and_ignore(binary_task, multiclass_task):
    img = torch.full((1, 3, 2, 2), 200, dtype=torch.uint8)
    lab = torch.ones((1, 1, 2, 2), dtype=torch.uint8)
    mask = torch.tensor([[[True, False], [False, False]]])
    x, y = apply_im(img, lab, mask, binary_task)
    assert x[0, :, 0, 0].tolist() == [0, 0, 0] and x[0, :, 1, 1].tolist() == [200] * 3
    assert y[0, 0].tolist() == [[0, 1], [1, 1]]
    x, y = apply_im(img, lab * 3, mask, multiclass_task)
    assert y[0, 0, 0, 0] == multiclass_task.im_class and y[0, 0, 1, 1] == 3
    x, y = apply_im(img, lab, mask, binary_task, mode="ignore")
    assert torch.equal(x, img) and y[0, 0, 0, 0] == 255 and y[0, 0, 0, 1] == 1
    x, _ = apply_im(img, lab, mask, binary_task, mode="ignore", blackout_input=True)
    assert x[0, :, 0, 0].sum() == 0
    with pytest.raises(ValueError, match="mode"):
        apply_im(img, lab, mask, binary_task, mode="drop")


def test_keep_by_area():
    label = torch.zeros(3, 1, 4, 4, dtype=torch.uint8)
    mask = torch.zeros(3, 4, 4, dtype=torch.bool)
    label[0, 0, :2] = 1  # 8 foreground, 4 masked -> keep
    mask[0, 3] = True
    label[1, 0, 0] = 1  # 4 foreground, 8 masked -> drop
    mask[1, 2:] = True
    # image 2: empty pseudo-label -> drop
    assert keep_by_area(label, mask).tolist() == [True, False, False]


def test_ensemble_soft_vote(multiclass_task):
    p = torch.tensor([[0.1, 0.5, 0.4, 0.0], [0.1, 0.0, 0.6, 0.3]]).view(2, 1, 4, 1, 1)
    # teacher argmax disagree (1 vs 2); mean = [0.1, 0.25, 0.5, 0.15] -> class 2
    assert ensemble_label(p, multiclass_task).item() == 2


def test_bad_inputs(binary_task):
    one = torch.rand(1, 1, 1, 4, 4)
    with pytest.raises(ValueError, match="at least 2 teachers"):
        binary_im(one)
    with pytest.raises(ValueError, match="at least 2 teachers"):
        binary_im([torch.rand(1, 1, 4, 4)])
    with pytest.raises(ValueError, match="same shape"):
        binary_im([torch.rand(1, 1, 4, 4), torch.rand(1, 1, 4, 5)])
    with pytest.raises(ValueError, match="5 dims"):
        binary_im(torch.rand(2, 1, 4, 4))
    with pytest.raises(ValueError, match="floating point"):
        binary_im(torch.ones(2, 1, 1, 4, 4, dtype=torch.uint8))
    with pytest.raises(ValueError, match="1 channel"):
        binary_im(torch.rand(2, 1, 3, 4, 4))
    img = torch.zeros(1, 3, 4, 4, dtype=torch.uint8)
    lab = torch.zeros(1, 1, 4, 4, dtype=torch.uint8)
    with pytest.raises(ValueError, match="does not fit"):
        apply_im(img, lab, torch.zeros(1, 5, 4, dtype=torch.bool), binary_task)
    with pytest.raises(ValueError, match="bool"):
        apply_im(img, lab, torch.zeros(1, 4, 4), binary_task)
