"""Study A data: the synthetic stand-in, split lists, strict readers, geometry + blackout, the labeled stream."""
from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from imlib.data.official.cityscapes import study_a_pairs
from imlib.data.sources import DatasetError
from imlib.study_a import synthetic as synthetic_module
from imlib.study_a.batches import LabeledBatch, UnlabeledBatch
from imlib.study_a.data import (BLACKOUTS, EvalPairs, TrainPairs, UnlabeledImages, collate_labeled,
                                collate_unlabeled, epoch_order, read_image, read_label, read_split, split_lists,
                                write_label)
from imlib.study_a.synthetic import ensure_synthetic_cityscapes, write_synthetic_cityscapes

SMALL = {"n_train": 16, "n_val": 2, "height": 32, "width": 64}


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> Path:
    return write_synthetic_cityscapes(tmp_path_factory.mktemp("syn") / "a", seed=0)


# --- synthetic writer -------------------------------------------------------------------------------------

def test_synthetic_is_deterministic_and_seeded(tmp_path):
    a = _files(write_synthetic_cityscapes(tmp_path / "a", seed=3, **SMALL))
    b = _files(write_synthetic_cityscapes(tmp_path / "b", seed=3, **SMALL))
    c = _files(write_synthetic_cityscapes(tmp_path / "c", seed=4, **SMALL))
    assert a == b
    assert a.keys() == c.keys()
    differ = [k for k in a if k.endswith(".png") and a[k] != c[k]]
    assert len(differ) == sum(k.endswith(".png") for k in a)
    assert not list(tmp_path.glob("*.tmp*"))


def test_synthetic_layout_read_by_study_a_pairs(synthetic):
    train = {p.relative_to(synthetic) for p in (synthetic / "leftImg8bit" / "train").rglob("*_leftImg8bit.png")}
    assert len(train) == 32 and len({p.parent for p in train}) >= 2
    for n in (2, 4, 8, 16):
        lab = study_a_pairs(synthetic, str(n), "labeled")
        unl = study_a_pairs(synthetic, str(n), "unlabeled")
        assert len(lab) == n
        lab_imgs, unl_imgs = {i for i, _ in lab}, {i for i, _ in unl}
        assert not lab_imgs & unl_imgs
        assert {p.relative_to(synthetic) for p in lab_imgs | unl_imgs} == train
        assert all(i.is_file() and g.is_file() for i, g in lab + unl)
    assert len(study_a_pairs(synthetic, "2", "val")) == 8


def test_synthetic_content(synthetic):
    classes = Counter()
    for image, label in study_a_pairs(synthetic, "16", "labeled"):
        lab, img = read_label(label), read_image(image)
        assert lab.shape == (64, 128) and img.shape == (64, 128, 3)
        values = set(np.unique(lab).tolist())
        assert values <= set(range(19)) | {255}
        classes.update(values)
    assert {0, 1, 2, 8, 10, 13} <= set(classes)
    assert len(classes) >= 8 and 255 in classes


def test_ensure_reuses_matching_folder_and_rewrites_otherwise(tmp_path, monkeypatch):
    root = ensure_synthetic_cityscapes(tmp_path / "s", seed=1, **SMALL)
    manifest = root / "manifest.json"
    image = next((root / "leftImg8bit").rglob("*.png"))
    stamps = manifest.stat().st_mtime_ns, image.stat().st_mtime_ns
    with monkeypatch.context() as m:
        m.setattr(synthetic_module, "render", None)  # reuse renders nothing
        assert ensure_synthetic_cityscapes(tmp_path / "s", seed=1, **SMALL) == root
    assert (manifest.stat().st_mtime_ns, image.stat().st_mtime_ns) == stamps
    ensure_synthetic_cityscapes(tmp_path / "s", seed=2, **SMALL)
    assert '"seed": 2' in manifest.read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s"]


def test_split_lists_synthetic(tmp_path):
    lists = split_lists("synthetic-cityscapes", "1/8", tmp_path / "prepared", tmp_path / "work", seed=0)
    assert lists.root == tmp_path / "work" / "datasets" / "synthetic-cityscapes-a-seed0"
    assert (len(lists.labeled), len(lists.unlabeled), len(lists.val)) == (4, 28, 8)
    assert all(isinstance(p, Path) and p.name.endswith("_leftImg8bit.png") for p in lists.unlabeled)
    assert not {i for i, _ in lists.labeled} & set(lists.unlabeled)
    assert lists.synthetic and lists.stands_in_for == "cityscapes"
    assert lists.num_classes == 19 and lists.class_names[0] == "road"
    assert lists.provenance["seed"] == 0 and lists.provenance["synthetic"] is True
    quarter = split_lists("synthetic-cityscapes", "1/4", tmp_path / "prepared", tmp_path / "work", seed=0)
    assert len(quarter.labeled) == 8
    with pytest.raises(ValueError, match="1/16"):
        split_lists("synthetic-cityscapes", "1/3", tmp_path / "prepared", tmp_path / "work")
    with pytest.raises(ValueError, match="synthetic-cityscapes"):
        split_lists("pascal", "1/8", tmp_path / "prepared", tmp_path / "work")


def test_split_lists_real_layout(synthetic, tmp_path):
    """A prepared folder as ``prepare_study_a`` writes it: lists under U2PL's counts, no synthetic fields."""
    root = tmp_path / "prepared" / "cityscapes_study_a"
    shutil.copytree(synthetic, root)
    (root / "splits" / "4").rename(root / "splits" / "372")
    manifest = json.loads((root / "manifest.json").read_text())
    for k in ("fractions", "synthetic", "stands_in_for"):
        del manifest[k]
    (root / "manifest.json").write_text(json.dumps(manifest | {"files": {"a.png": {}}}))
    lists = split_lists("cityscapes", "1/8", tmp_path / "prepared", tmp_path / "work")
    assert (len(lists.labeled), len(lists.unlabeled), len(lists.val)) == (4, 28, 8)
    assert not lists.synthetic and lists.stands_in_for is None and "files" not in lists.provenance
    assert not (tmp_path / "work").exists()
    with pytest.raises(DatasetError, match="186"):
        split_lists("cityscapes", "1/16", tmp_path / "prepared", tmp_path / "work")


def test_split_lists_missing_prepared_folder(tmp_path):
    with pytest.raises(DatasetError) as e:
        split_lists("cityscapes", "1/16", tmp_path / "prepared", tmp_path / "work")
    assert str(tmp_path / "prepared" / "cityscapes_study_a") in str(e.value)
    assert "imlib prepare cityscapes --protocol study-a" in str(e.value)


# --- geometry and blackout --------------------------------------------------------------------------------

def _im_pair(tmp_path: Path, h: int = 24, w: int = 40) -> tuple[Path, Path]:
    """Distinct colours whose red channel is never 0 nor the ImageNet mean's 124, and a 255 block (the IM)."""
    rng = np.random.default_rng(0)
    image = np.stack([rng.integers(130, 256, (h, w)), rng.integers(1, 256, (h, w)),
                      rng.integers(1, 256, (h, w))], -1).astype(np.uint8)
    label = rng.integers(0, 19, (h, w)).astype(np.uint8)
    label[5:15, 8:25] = 255
    Image.fromarray(image).save(tmp_path / "x_leftImg8bit.png")
    write_label(tmp_path / "x_im.png", label)
    return tmp_path / "x_leftImg8bit.png", tmp_path / "x_im.png"


@pytest.mark.parametrize("blackout", ["black", "mean"])
def test_blackout_exactly_on_im_pixels_after_geometry(tmp_path, blackout):
    image, label = _im_pair(tmp_path)
    value = np.array(BLACKOUTS[blackout], np.uint8)
    ds = TrainPairs([(image, label, True)] * 4, crop=32, blackout=blackout, seed=7)
    flipped_or_cropped, seen_im = set(), 0
    for epoch in range(6):
        ds.set_epoch(epoch)
        for i in range(len(ds)):
            out = ds[i]
            img, lab = out["image"].permute(1, 2, 0).numpy(), out["label"].numpy()
            assert img.shape == (32, 32, 3) and lab.shape == (32, 32)
            is_value = (img == value).all(-1)
            assert np.array_equal(is_value, lab == 255)
            seen_im += int((lab == 255).sum())
            flipped_or_cropped.add(out["image"].numpy().tobytes())
    assert seen_im > 0 and len(flipped_or_cropped) == 24


def test_no_blackout_for_none_or_gt_pairs(tmp_path):
    image, label = _im_pair(tmp_path)
    none = TrainPairs([(image, label, True)], crop=32, blackout="none", seed=1)
    gt = TrainPairs([(image, label, False)], crop=32, blackout="black", seed=1)
    black = TrainPairs([(image, label, True)], crop=32, blackout="black", seed=1)
    im_pixels = 0
    for epoch in range(6):
        for ds in (none, gt, black):
            ds.set_epoch(epoch)
        a, b, c = none[0], gt[0], black[0]
        assert torch.equal(a["image"], b["image"]) and torch.equal(a["label"], c["label"])
        im = (a["label"] == 255) & (a["image"] != 0).any(0)  # the IM, not crop padding (image 0 there)
        im_pixels += int(im.sum())
        assert torch.equal(a["image"] != c["image"], im.expand(3, -1, -1) & (a["image"] != 0))
    assert im_pixels > 0


def test_views_depend_on_seed_epoch_index_only(tmp_path):
    image, label = _im_pair(tmp_path)
    a = TrainPairs([(image, label, False)] * 3, crop=32, seed=2)
    b = TrainPairs([(image, label, False)] * 3, crop=32, seed=2)
    a.set_epoch(1), b.set_epoch(1)
    assert all(np.array_equal(a[i]["label"], b[i]["label"]) for i in (2, 0, 1))
    b.set_epoch(2)
    assert not all(np.array_equal(a[i]["image"], b[i]["image"]) for i in range(3))


def test_crop_padding(tmp_path):
    rng = np.random.default_rng(1)
    image = rng.integers(1, 256, (10, 12, 3)).astype(np.uint8)
    label = rng.integers(0, 19, (10, 12)).astype(np.uint8)
    im = np.zeros((10, 12), np.uint8)
    im[2:6, 3:9] = 255  # the IM
    Image.fromarray(image).save(tmp_path / "i.png")
    write_label(tmp_path / "l.png", label)
    write_label(tmp_path / "im.png", im)
    pairs = TrainPairs([(tmp_path / "i.png", tmp_path / "l.png", False)], crop=48, seed=0)
    unl = UnlabeledImages([tmp_path / "i.png"], crop=48, im_labels={tmp_path / "i.png": tmp_path / "im.png"}, seed=0)
    plain = UnlabeledImages([tmp_path / "i.png"], crop=48, seed=0)
    for epoch in range(4):
        for ds in (pairs, unl, plain):
            ds.set_epoch(epoch)
        p, u, q = pairs[0], unl[0], plain[0]
        pad = (p["image"] == 0).all(0)  # image padding is 0, image content never is
        assert 0 < pad.sum() < 48 * 48
        assert (p["label"][pad] == 255).all() and (p["label"][~pad] != 255).all()
        assert u["ignore"].dtype == u["im_mask"].dtype == torch.bool
        assert torch.equal(u["ignore"], pad) and torch.equal(q["ignore"], pad)
        assert not u["im_mask"][pad].any() and u["im_mask"].any() and not q["im_mask"].any()
        assert torch.equal(u["image"], p["image"])


def test_collate_and_eval(tmp_path):
    image, label = _im_pair(tmp_path)
    lab = collate_labeled([TrainPairs([(image, label, False)], crop=16)[0]] * 2)
    unl = collate_unlabeled([UnlabeledImages([image], crop=16)[0]] * 3)
    assert isinstance(lab, LabeledBatch) and lab.image.shape == (2, 3, 16, 16) and lab.label.dtype.is_signed
    assert isinstance(unl, UnlabeledBatch) and unl.excluded.shape == (3, 16, 16)
    ev = EvalPairs([(image, label)])
    out = ev[0]
    assert out["image"].shape == (3, 24, 40) and np.array_equal(out["label"].numpy(), read_label(label))
    assert ev.paths == [(image, label)]


# --- labeled stream ---------------------------------------------------------------------------------------

def test_labeled_stream_longer_than_unlabeled():
    n, length = 10, 7  # GT u IM pairs outnumber the unlabeled list: some fall out each epoch
    dropped = set()
    for epoch in range(5):
        order = epoch_order(n, length, seed=0, epoch=epoch, stream="labeled")
        assert len(order) == length and len(set(order.tolist())) == length
        dropped.add(frozenset(set(range(n)) - set(order.tolist())))
    assert len(dropped) > 1
    n, length = 7, 24  # ... and over several rounds: each item floor or ceil times
    order = epoch_order(n, length, seed=0, epoch=3, stream="labeled")
    counts = Counter(order.tolist())
    assert set(counts) == set(range(n)) and set(counts.values()) <= {3, 4}
    assert np.array_equal(order, epoch_order(n, length, seed=0, epoch=3, stream="labeled"))
    assert not np.array_equal(order, epoch_order(n, length, seed=0, epoch=3, stream="unlabeled"))
    assert not np.array_equal(order, epoch_order(n, length, seed=1, epoch=3, stream="labeled"))


def test_labeled_stream_shorter_and_unlabeled_permutation():
    order = epoch_order(3, 10, seed=0, epoch=0, stream="labeled")
    assert sorted(Counter(order.tolist()).values()) == [3, 3, 4]
    perm = epoch_order(9, 9, seed=0, epoch=0, stream="unlabeled")
    assert sorted(perm.tolist()) == list(range(9))
    with pytest.raises(ValueError):
        epoch_order(0, 4, seed=0, epoch=0, stream="labeled")


# --- bad input --------------------------------------------------------------------------------------------

def test_bad_labels_and_sizes_name_the_file(tmp_path):
    Image.fromarray(np.zeros((8, 8), np.uint16) + 300).save(tmp_path / "deep.png")
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "rgb.png")
    write_label(tmp_path / "wrong.png", np.full((8, 8), 40, np.uint8))
    write_label(tmp_path / "small.png", np.zeros((6, 8), np.uint8))
    Image.fromarray(np.full((8, 8, 3), 9, np.uint8)).save(tmp_path / "img.png")
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "grey.png")
    for name, what in (("deep.png", "mode I"), ("rgb.png", "mode RGB"), ("wrong.png", "40")):
        with pytest.raises(DatasetError, match=what) as e:
            read_label(tmp_path / name)
        assert str(tmp_path / name) in str(e.value)
    with pytest.raises(DatasetError, match="mode L") as e:
        read_image(tmp_path / "grey.png")
    assert str(tmp_path / "grey.png") in str(e.value)
    with pytest.raises(DatasetError) as e:
        TrainPairs([(tmp_path / "img.png", tmp_path / "small.png", False)], crop=8)[0]
    assert str(tmp_path / "small.png") in str(e.value) and str(tmp_path / "img.png") in str(e.value)


def test_missing_split_file_is_named(tmp_path):
    root = write_synthetic_cityscapes(tmp_path / "work" / "datasets" / "synthetic-cityscapes-a-seed0", **SMALL)
    gone = study_a_pairs(root, "2", "labeled")[0][1]
    gone.unlink()
    with pytest.raises(DatasetError, match=gone.name):
        read_split(root, "synthetic-cityscapes", "1/16")
