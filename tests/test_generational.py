"""The generational loop's pairs: what the students of IM and ME train on, built from known teachers."""
import pytest
import torch
from torch import nn

from imlib.config import make_config
from imlib.methods import im_generations, model_ensemble
from imlib.methods.generational import Pairs, build_pairs
from imlib.methods.shared import Run, TrainedModel

TINY = dict(image_size=16, n_train=20, n_val=4, n_test=4, alpha=0.25)


class Fixed(nn.Module):
    """A 'teacher' whose logits are a fixed map per image: +10 (foreground) inside ``box``, -10 outside."""

    def __init__(self, box):
        super().__init__()
        self.box = box
        self.dummy = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        y0, y1, x0, x1 = self.box
        out = torch.full((x.shape[0], 1, *x.shape[-2:]), -10.0)
        out[:, :, y0:y1, x0:x1] = 10.0
        return out + self.dummy


def teachers(*boxes):
    return [TrainedModel(f"t{i}", Fixed(b), {}, {}, 0, 0.0) for i, b in enumerate(boxes)]


@pytest.fixture
def run(tmp_path):
    return Run(make_config("smoke", dataset="synthetic-lesion", method="im", work_dir=str(tmp_path), **TINY),
               progress=False)


def expected_mask(shape, a, b):
    """Pixels inside exactly one of the two boxes."""
    ma, mb = torch.zeros(shape, dtype=torch.bool), torch.zeros(shape, dtype=torch.bool)
    ma[a[0]:a[1], a[2]:a[3]] = True
    mb[b[0]:b[1], b[2]:b[3]] = True
    return ma ^ mb, ma & mb


@pytest.mark.parametrize("mode", ["blackout", "ignore"])
def test_im_pairs_remove_exactly_the_disagreement(run, mode):
    a, b = (2, 10, 2, 10), (4, 12, 4, 12)  # overlap 6x6 = 36 px, disagreement 2 x (64 - 36) = 56 px
    rule = im_generations.pair_rule(run.task, {"mode": mode, "erode": 0, "dilate": 0, "filter": False})
    pairs, stats = build_pairs(run, teachers(a, b), rule, chunk=7)  # chunks that do not divide the set
    unlabeled = run.dataset.unlabeled
    mask, agreed = expected_mask((16, 16), a, b)
    n = len(unlabeled)
    assert len(pairs) == n == stats.unlabeled == stats.kept
    if mode == "blackout":  # the paper's: image pixels 0, label background
        assert (pairs.images[:, :, mask] == 0).all() and (pairs.labels[:, 0, mask] == 0).all()
    else:  # the label is ignored there, the image kept
        assert (pairs.labels[:, 0, mask] == 255).all()
        assert torch.equal(pairs.images, unlabeled.images)
    assert torch.equal(pairs.images[:, :, ~mask], unlabeled.images[:, :, ~mask])
    assert (pairs.labels[:, 0, agreed] == 1).all() and (pairs.labels[:, 0, ~mask & ~agreed] == 0).all()
    assert stats.mask_fraction == pytest.approx(56 / 256)
    truth = unlabeled.labels[:, 0]
    agree = ((truth == (agreed.long())) & ~mask).sum()
    assert stats.pseudo_label_accuracy == pytest.approx(float(agree) / (n * (256 - 56)))
    shown = stats.showcase
    assert shown.unlabeled_index == [0, 1, 2] and shown.kept == [True] * 3
    assert torch.equal(torch.from_numpy(shown.mask.decode()).bool(), mask.expand(3, 16, 16))


def test_binary_filter_drops_images_whose_mask_outweighs_the_agreed_foreground(run):
    rule = im_generations.pair_rule(run.task, {"mode": "blackout", "erode": 0, "dilate": 0, "filter": None})
    pairs, stats = build_pairs(run, teachers((0, 4, 0, 4), (0, 16, 0, 16)), rule)  # agreed 16 px, masked 240 px
    assert len(pairs) == stats.kept == 0 and stats.showcase.kept == [False] * 3
    pairs, stats = build_pairs(run, teachers((0, 16, 0, 12), (0, 16, 0, 16)), rule)  # agreed 192 px, masked 64
    assert stats.kept == len(run.dataset.unlabeled)


def test_model_ensemble_pairs_keep_the_image_and_mask_nothing(run):
    a, b = (2, 10, 2, 10), (4, 12, 4, 12)
    pairs, stats = build_pairs(run, teachers(a, b), model_ensemble.pair_rule(run.task))
    _, agreed = expected_mask((16, 16), a, b)
    assert torch.equal(pairs.images, run.dataset.unlabeled.images) and stats.mask_fraction == 0
    assert (pairs.labels[:, 0, agreed] == 1).all() and (pairs.labels[:, 0, ~agreed] == 0).all()  # unanimous fg


def test_pairs_type_is_what_rules_return(run):
    rule = im_generations.pair_rule(run.task, {"mode": "blackout", "erode": 0, "dilate": 0, "filter": False})
    x = run.dataset.unlabeled.images[:2]
    probs = torch.stack([torch.rand(2, 1, 16, 16), torch.rand(2, 1, 16, 16)])
    assert isinstance(rule(probs, x), Pairs)
