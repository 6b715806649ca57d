"""Fidelity to the original code: HeLa position erosion and redraw, Dice's smooth, the binary checkpoint IoU,
independent synthetic split streams, and the paper's per-dataset defaults for prepared datasets."""
import hashlib

import numpy as np
import pytest
import torch
from torch import nn

from imlib.cell_positions import disc_radii, draw_discs, redraw_position
from imlib.data import SegData, synthetic
from imlib.im import multilabel_im
from imlib.metrics import cell_count_errors, dice_per_image, iou_per_image, score


# --- HeLa: the 3 x 3 erosion before the centroids ------------------------------------------------------------

def _cell_with_speck(speck_pixels: int, shape=(48, 48)):
    """One real cell (a disc of radius 5 at (20, 20), alive) and, next to it, a speck of 1 or 2 pixels in the
    position channel (also on alive pixels, so that it would count as an alive cell)."""
    alive = draw_discs(np.array([[20, 20]]), np.array([5]), shape)
    pos = draw_discs(np.array([[20, 20]]), np.array([5]), shape)
    speck = [(20, 30), (20, 31)][:speck_pixels]
    for y, x in speck:
        pos[y, x] = alive[y - 3:y + 4, x - 3:x + 4] = True
    return np.stack([alive, np.zeros(shape, bool), pos]).astype(np.uint8)


@pytest.mark.parametrize("speck_pixels", [1, 2])
def test_a_speck_next_to_a_cell_is_not_a_cell(speck_pixels, multilabel_task):
    lab = _cell_with_speck(speck_pixels)
    truth = _cell_with_speck(0)  # one alive cell
    t = lambda a: torch.from_numpy(a)[None]  # noqa: E731
    assert cell_count_errors(t(lab), t(truth), multilabel_task).tolist() == [0.0]  # the speck is no cell
    # the real cell is still counted: a prediction without it is one cell off
    missing = truth.copy()
    missing[2] = 0
    assert cell_count_errors(t(missing), t(truth), multilabel_task).tolist() == [1.0]
    # the redraw (IM, ensembles) draws one disc only, not a second one for the speck
    assert np.array_equal(redraw_position(lab[2].astype(bool)),
                          draw_discs(np.array([[20, 20]]), disc_radii(np.array([[20, 20]])), lab[2].shape))
    from imlib.cell_positions import position_centroids

    assert position_centroids(lab[2].astype(bool)).tolist() == [[20, 20]]  # the real cell stays, the speck goes


def test_im_pseudo_label_drops_a_speck_the_teachers_agree_on():
    lab = _cell_with_speck(2).astype(np.float32)
    p = torch.from_numpy(np.stack([lab, lab]))[:, None]  # (2 teachers, 1 image, 3, H, W)
    label, mask = multilabel_im(p, position_channel=2)
    assert not mask.any()
    assert label[0, 2, 20, 30:32].sum() == 0  # no disc where the speck was
    lone = draw_discs(np.array([[20, 20]]), np.array([8]), lab.shape[1:])  # one cell: d_min 99 -> radius 8
    assert np.array_equal(label[0, 2].numpy().astype(bool), lone)


# --- HeLa: mIoU scores the redrawn position channel ------------------------------------------------------------

def test_mod_pos_size_is_discs_then_the_2x2_blur_threshold():
    from imlib.cell_positions import mod_pos_size

    shape = (32, 40)
    blob = np.zeros(shape, bool)
    blob[10:19, 12:21] = True  # a raw predicted square (centre (14, 16)), not a disc
    disc = draw_discs(np.array([[14, 16]]), np.array([8]), shape)  # the lone cell's disc (eroded centroid)
    out = mod_pos_size(blob)
    # cv2.blur(2 x 2) then < 254 -> 0 keeps a pixel only where rows y-1..y and columns x-1..x are all on
    expected = disc.copy()
    expected[1:, 1:] = disc[1:, 1:] & disc[:-1, 1:] & disc[1:, :-1] & disc[:-1, :-1]
    assert np.array_equal(out, expected) and out.sum() < disc.sum()
    assert not mod_pos_size(np.zeros(shape, bool)).any()


def test_hela_miou_scores_the_redrawn_position_channel(multilabel_task):
    shape = (32, 32)
    alive = draw_discs(np.array([[16, 16]]), np.array([6]), shape)
    gt_pos = draw_discs(np.array([[16, 16]]), np.array([8]), shape)
    gt = np.stack([alive, np.zeros(shape, bool), gt_pos]).astype(np.uint8)
    raw = np.zeros(shape, bool)
    raw[12:21, 12:21] = True  # the network's raw position blob around the right centre
    pred = np.stack([alive, np.zeros(shape, bool), raw]).astype(np.uint8)
    t = lambda a: torch.from_numpy(a)[None]  # noqa: E731
    s = score(t(pred), t(gt), multilabel_task)
    iou = lambda a, b: float(iou_per_image(torch.from_numpy(a)[None], torch.from_numpy(b)[None]))  # noqa: E731
    # dead: both empty -> 0 (the paper's convention); position: the redrawn discs against the truth
    assert s["miou"] != pytest.approx((1.0 + 0.0 + iou(raw, gt_pos.astype(bool))) / 3)  # not the raw channel
    from imlib.cell_positions import mod_pos_size

    assert s["miou"] == pytest.approx((1.0 + 0.0 + iou(mod_pos_size(raw), gt_pos.astype(bool))) / 3)
    assert s["miou_ad"] == pytest.approx(0.5) and s["mcce"] == 0.0


# --- Dice: the original's smooth = 1 ------------------------------------------------------------------------

def test_dice_uses_the_originals_smooth_of_one():
    gt = torch.zeros(3, 4, 4, dtype=torch.bool)
    pred = torch.zeros_like(gt)
    gt[0, :2] = True  # 8 px
    pred[0, 1:3] = True  # 8 px, 4 overlap -> (2 * 4 + 1) / (16 + 1)
    gt[1, 0, 0] = True  # prediction empty -> 1 / 2
    # image 2: both empty -> 1 (smooth / smooth), where its IoU is 0
    assert dice_per_image(pred, gt).tolist() == pytest.approx([9 / 17, 1 / 2, 1.0])
    assert iou_per_image(pred, gt)[2] == 0


# --- the binary checkpoint criterion: dataset-level IoU (Keras BinaryIoU) -----------------------------------

def _binary_case():
    gt = torch.zeros(3, 4, 4, dtype=torch.bool)
    pred = torch.zeros_like(gt)
    gt[0, :2] = True
    pred[0, 1:3] = True  # 4 of 12
    gt[1, 0, 0] = True  # 0 of 1
    return pred, gt  # image 2 empty in both


def test_dataset_iou_sums_over_the_set():
    from imlib.metrics import dataset_iou

    pred, gt = _binary_case()
    assert dataset_iou(pred, gt) == pytest.approx(4 / 13)
    assert float(iou_per_image(pred, gt).mean()) == pytest.approx(1 / 9)  # the reported (per-image) score
    assert dataset_iou(torch.zeros_like(gt), torch.zeros_like(gt)) == 0.0
    valid = torch.ones_like(gt)
    valid[1] = False  # ignored pixels leave the sums
    assert dataset_iou(pred, gt, valid) == pytest.approx(4 / 12)


class _Fixed(nn.Module):
    """Logit +10 where the image's first channel is 255, -10 elsewhere."""

    def __init__(self):
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(()))

    def forward(self, x):
        return (x[:, :1].float() / 255 * 20 - 10) + self.dummy


def test_binary_checkpoint_criterion_is_the_dataset_iou(binary_task):
    from imlib.engine import TrainSettings, selection_score

    pred, gt = _binary_case()
    images = (pred[:, None].expand(-1, 3, -1, -1) * 255).to(torch.uint8)
    val = SegData(images, gt[:, None].to(torch.uint8))
    value, higher = selection_score(_Fixed(), val, binary_task, TrainSettings(amp=False), "cpu")
    assert higher and value == pytest.approx(4 / 13)  # not the per-image mean 1 / 9
    from imlib.engine import evaluate

    assert evaluate(_Fixed(), val, binary_task, amp=False)["iou"] == pytest.approx(1 / 9)  # reported: per image


# --- synthetic data: independent split streams for any size ------------------------------------------------

def test_existing_seeds_keep_their_images():
    """Images below the old stride are those of generator version 3 (fingerprints taken before the fix)."""
    for name, digest in (("synthetic-lesion", "ccfd39dcdb64e7a8"), ("synthetic-cells", "df1c1ca719143745"),
                         ("synthetic-scenes", "a2d0f15969b6416d")):
        x, y = synthetic.generate(name, 3, 16, 420)
        assert hashlib.sha256(x.numpy().tobytes() + y.numpy().tobytes()).hexdigest()[:16] == digest
    base = sum(map(ord, "synthetic-lesion")) * 1_000_003
    assert synthetic.image_seed("synthetic-lesion", 421, 7918) == base + 421 * 7919 + 7918


def test_image_seeds_never_repeat_across_split_seeds():
    seeds = [synthetic.image_seed("synthetic-cells", s, i) for s in (420, 421, 422) for i in range(17000)]
    assert len(set(seeds)) == len(seeds)
    assert all(0 <= s < 2**64 for s in seeds)


def test_train_and_test_images_never_coincide_for_a_large_train_split(monkeypatch):
    """A cheap painter (random bytes from the image's stream) stands in for the real one, so that 16 000
    training images are quick; each image is still determined by its seed alone."""
    from imlib.config import make_config
    from imlib.data.registry import load_dataset

    def painter(rng, s):
        return (torch.randint(0, 256, (3, s, s), generator=rng.g, dtype=torch.uint8),
                torch.zeros((1, s, s), dtype=torch.uint8))

    monkeypatch.setitem(synthetic.PAINTERS, "synthetic-lesion", painter)
    cfg = make_config("smoke", dataset="synthetic-lesion", image_size=16, n_train=16000, n_val=4, n_test=4)
    ds = load_dataset(cfg)
    train = {bytes(im.numpy()) for im in ds.train.images}
    assert len(train) == 16000
    for part in (ds.val, ds.test):
        assert not train & {bytes(im.numpy()) for im in part.images}
    assert ds.provenance["data_version"] != synthetic.GENERATOR_VERSION  # the images beyond the stride are new
