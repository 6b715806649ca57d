import numpy as np
import pytest
import torch

from imlib.cell_positions import disc_radii, draw_discs
from imlib.metrics import (cell_count_errors, confusion_matrix, count_cells, iou_per_image, miou_from_confusion,
                           miou_per_image, score)


def test_iou_per_image_by_hand():
    gt = torch.zeros(3, 4, 4, dtype=torch.bool)
    pred = torch.zeros_like(gt)
    gt[0, :2] = True  # 8 px
    pred[0, 1:3] = True  # 8 px, 4 overlap -> 4 / 12
    gt[1, 0, 0] = True  # prediction empty -> 0
    # image 2: both empty -> 0 (the paper's convention)
    iou = iou_per_image(pred, gt)
    assert iou[0].item() == pytest.approx(1 / 3) and iou[1] == 0 and iou[2] == 0


def test_miou_per_image_over_gt_classes_only():
    gt = torch.tensor([[[1, 1], [2, 2]]])
    pred = torch.tensor([[[1, 3], [2, 2]]])
    # class 1: 1/2, class 2: 2/2; class 3 is not in the GT and does not count
    assert miou_per_image(pred, gt, 4).item() == pytest.approx(0.75)
    gt_ign = torch.tensor([[[1, 255], [2, 2]]])
    assert miou_per_image(pred, gt_ign, 4).item() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="class ids"):
        miou_per_image(pred, torch.tensor([[[9, 1], [2, 2]]]), 4)


def test_confusion_matrix_miou_with_ignore():
    gt = torch.tensor([[0, 0, 1, 1, 255]])
    pred = torch.tensor([[0, 1, 1, 1, 0]])
    cm = confusion_matrix(pred, gt, 2)
    assert cm.tolist() == [[1, 1], [0, 2]]
    # class 0: 1 / (1 + 1 + 0) = 0.5, class 1: 2 / 3
    assert miou_from_confusion(cm) == pytest.approx((0.5 + 2 / 3) / 2)
    assert miou_from_confusion(torch.zeros(3, 3)) == 0.0


def _cell_image(alive_centres, dead_centres, shape=(64, 64)):
    alive, dead = np.zeros(shape, bool), np.zeros(shape, bool)
    for c in alive_centres:
        alive |= draw_discs(np.array([c]), np.array([5]), shape)
    for c in dead_centres:
        dead |= draw_discs(np.array([c]), np.array([4]), shape)
    cent = np.array(alive_centres + dead_centres).reshape(-1, 2)
    pos = draw_discs(cent, disc_radii(cent), shape)
    return np.stack([alive, dead, pos]).astype(np.uint8)


def test_count_cells_classifies_by_window_majority():
    lab = _cell_image([(10, 10), (40, 12), (50, 50)], [(20, 40)])
    assert count_cells(lab[2], lab[0], lab[1]) == (3, 1)
    # a cell at the border is moved inward for its window and still counted
    lab = _cell_image([(1, 1)], [])
    assert count_cells(lab[2], lab[0], lab[1]) == (1, 0)
    empty = np.zeros((16, 16), np.uint8)
    assert count_cells(empty, empty, empty) == (0, 0)


def test_mcce_by_hand(multilabel_task):
    gt = _cell_image([(10, 10), (40, 12), (50, 50)], [(20, 40)])
    pred_missing_one = _cell_image([(10, 10), (40, 12)], [(20, 40), (52, 20)])  # 1 alive missed, 1 dead extra
    t = lambda *a: torch.from_numpy(np.stack(a))  # noqa: E731
    err = cell_count_errors(t(pred_missing_one, gt), t(gt, gt), multilabel_task)
    assert err.tolist() == [2.0, 0.0]
    s = score(t(pred_missing_one, gt), t(gt, gt), multilabel_task)
    assert s["mcce"] == pytest.approx(1.0)
    assert 0 < s["miou_ad"] < 1


def test_score_dispatch_and_shape_errors(binary_task, multiclass_task):
    a = torch.ones(2, 1, 4, 4, dtype=torch.uint8)
    assert score(a, a, binary_task)["iou"] == pytest.approx(1.0)
    assert score(a, a, multiclass_task)["miou"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="differ in shape"):
        score(a, torch.ones(2, 1, 4, 5, dtype=torch.uint8), binary_task)
