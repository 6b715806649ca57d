"""``imlib prepare folder``: people's own data, every validation error, and training on the result."""
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from imlib import methods
from imlib.cli import main
from imlib.config import make_config
from imlib.data.folder import prepare_folder
from imlib.data.registry import load_dataset
from imlib.data.sources import DatasetError

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def _save(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def make_folder(root: Path, n: int = 20, kind: str = "binary", size=(40, 48), unlabeled: int = 0) -> Path:
    """A tiny dataset in the folder layout: a bright square (the foreground) on a dark image."""
    rng = np.random.default_rng(0)
    h, w = size
    for i in range(n):
        img = rng.integers(0, 60, (h, w, 3), dtype=np.uint8)
        y, x = rng.integers(0, h // 2), rng.integers(0, w // 2)
        fg = np.zeros((h, w), bool)
        fg[y:y + h // 3, x:x + w // 3] = True
        img[fg] = 200
        _save(root / "images" / f"img{i:02d}.png", img)
        if kind == "binary":
            _save(root / "masks" / f"img{i:02d}.png", (fg * 255).astype(np.uint8))
        elif kind == "multiclass":
            m = np.full((h, w), 10, np.uint8)  # ids 10 (ground), 20 (square), 30 (a stripe)
            m[fg] = 20
            m[:2] = 30
            _save(root / "masks" / f"img{i:02d}.png", m)
        else:
            _save(root / "masks" / "alive" / f"img{i:02d}.png", (fg * 255).astype(np.uint8))
            _save(root / "masks" / "dead" / f"img{i:02d}.png", np.zeros((h, w), np.uint8))
    for i in range(unlabeled):
        _save(root / "unlabeled" / f"extra{i}.jpg", rng.integers(0, 255, (h, w, 3), dtype=np.uint8))
    return root


def prepare(src, tmp_path, **kw):
    return prepare_folder(src, "mine", dst=tmp_path / "prepared" / "mine", splits_dir=tmp_path / "splits",
                          size=32, **kw)


@pytest.mark.parametrize("kind", ["binary", "multiclass", "multilabel"])
def test_prepare_infers_the_kind_and_writes_splits_and_manifest(kind, tmp_path):
    src = make_folder(tmp_path / "src", kind=kind, unlabeled=3)
    dst = prepare(src, tmp_path)
    manifest = json.loads((dst / "manifest.json").read_text())
    assert manifest["kind"] == kind
    assert manifest["splits"] == {"test": 4, "val": 2, "labeled": 1, "unlabeled": 16}  # 13 + 3 unlabeled/
    assert len(manifest["files"]) == 20 + 3 + 20 * (2 if kind == "multilabel" else 1)
    assert all(len(f["sha256"]) == 64 for f in manifest["files"].values())
    lists = {k: (tmp_path / "splits" / "mine" / f"{k}.txt").read_text().split() for k in manifest["splits"]}
    assert sum(map(len, lists.values())) == 23 and "extra0" in lists["unlabeled"]
    with np.load(dst / "labeled.npz") as z:
        assert z["images"].shape == (1, 3, 32, 32) and z["images"].dtype == np.uint8
        labels = z["labels"]
    if kind == "multiclass":  # ids 10, 20, 30 -> 1, 2, 3; class 0 stays the IM class
        assert manifest["class_names"] == ["IM", "class 10", "class 20", "class 30"]
        assert set(np.unique(labels)) <= {1, 2, 3}
    elif kind == "multilabel":
        assert labels.shape[1] == 2 and manifest["class_names"] == ["alive", "dead"]
    else:
        assert set(np.unique(labels)) <= {0, 1}
    with np.load(dst / "unlabeled.npz") as z:
        unl = dict(zip(z["stems"], z["labels"]))
    assert (unl["extra0"] == 255).all()  # images without a mask: every pixel ignored
    # preparing again finds the same files and the same split
    prepare(src, tmp_path)


def test_a_prepared_dataset_trains_ldt_and_im(tmp_path):
    src = make_folder(tmp_path / "src", n=24)
    prepare(src, tmp_path)
    over = dict(epochs=2, steps_per_epoch=2, batch_size=4, n_models=2, n_students=2, generations=1, alpha=0.25,
                prepared_dir=str(tmp_path / "prepared"), work_dir=str(tmp_path / "work"))
    ds = load_dataset(make_config("smoke", dataset="mine", **over))
    assert not ds.synthetic and ds.task.kind == "binary" and ds.sizes()["test"] == 5
    for m in ("ldt", "im"):
        rec = methods.run(make_config("smoke", dataset="mine", method=m, **over), progress=False)
        assert rec.dataset.synthetic is False and 0 <= rec.result.test["iou"] <= 1
        assert rec.dataset.provenance["prepared"].endswith("mine")


def test_a_different_labeled_fraction_is_an_error(tmp_path):
    prepare(make_folder(tmp_path / "src"), tmp_path)
    cfg = make_config("smoke", dataset="mine", labeled_fraction=0.2, prepared_dir=str(tmp_path / "prepared"))
    with pytest.raises(ValueError, match="prepared with labeled_fraction 0.1"):
        load_dataset(cfg)


def test_unknown_dataset_says_how_to_prepare_it(tmp_path):
    with pytest.raises(ValueError, match="imlib prepare folder"):
        load_dataset(make_config("smoke", dataset="nope", prepared_dir=str(tmp_path)))


# --- every validation error names the file ----------------------------------------------------------

def test_missing_folder(tmp_path):
    (tmp_path / "src" / "images").mkdir(parents=True)
    with pytest.raises(DatasetError, match=r"src/masks: missing folder"):
        prepare(tmp_path / "src", tmp_path)


def test_images_without_masks_and_the_reverse(tmp_path):
    src = make_folder(tmp_path / "src")
    (src / "masks" / "img03.png").unlink()
    _save(src / "masks" / "orphan.png", np.zeros((40, 48), np.uint8))
    with pytest.raises(DatasetError, match="images without a mask.*img03.*masks without an image.*orphan"):
        prepare(src, tmp_path)


def test_truncated_image(tmp_path):
    src = make_folder(tmp_path / "src")
    path = src / "images" / "img05.png"
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(DatasetError, match=r"img05.png: unreadable or truncated"):
        prepare(src, tmp_path)


def test_mask_size_differs_from_its_image(tmp_path):
    src = make_folder(tmp_path / "src")
    _save(src / "masks" / "img02.png", np.zeros((10, 10), np.uint8))
    with pytest.raises(DatasetError, match=r"img02.png: mask is 10x10, its image .*img02.png is 48x40"):
        prepare(src, tmp_path)


def test_mask_values_outside_the_palette_are_listed(tmp_path):
    src = make_folder(tmp_path / "src")
    m = np.zeros((40, 48), np.uint8)
    m[0, :3] = [7, 255, 9]
    _save(src / "masks" / "img01.png", m)
    with pytest.raises(DatasetError, match=r"img01.png: a binary mask must hold 0/255.*\[7, 9\]"):
        prepare(src, tmp_path, kind="binary")


def test_classes_txt_fixes_the_palette_and_names_the_classes(tmp_path):
    """A declared class absent from the masks keeps its id (ids do not shift with the data), 255 is ignored,
    and the names reach the manifest and the dataset."""
    src = make_folder(tmp_path / "src", kind="multiclass")
    (src / "classes.txt").write_text("# id name\n10 ground\n20 square\n25 never seen\n30 stripe\n")
    m = np.asarray(Image.open(src / "masks" / "img03.png")).copy()
    m[5, :4] = 255
    _save(src / "masks" / "img03.png", m)
    dst = prepare(src, tmp_path)
    manifest = json.loads((dst / "manifest.json").read_text())
    assert manifest["kind"] == "multiclass" and manifest["class_ids"] == [10, 20, 25, 30]
    assert manifest["class_names"] == ["IM", "ground", "square", "never seen", "stripe"]
    assert "classes.txt" in manifest["files"]
    ds = load_dataset(make_config("smoke", dataset="mine", prepared_dir=str(tmp_path / "prepared")))
    labels = np.concatenate([ds.labeled.labels.numpy().ravel(), ds.unlabeled.labels.numpy().ravel(),
                             ds.val.labels.numpy().ravel(), ds.test.labels.numpy().ravel()])
    assert set(np.unique(labels).tolist()) == {1, 2, 4, 255}  # 10 -> 1, 20 -> 2, 30 -> 4; 3 stays free


def test_classes_txt_values_outside_it_are_listed(tmp_path):
    src = make_folder(tmp_path / "src", kind="multiclass")
    (src / "classes.txt").write_text("10 ground\n20 square\n")
    with pytest.raises(DatasetError, match=r"img00.png: mask values outside the classes of classes.txt.*\[30\]"):
        prepare(src, tmp_path)


@pytest.mark.parametrize("text, message", [("10 ground\nten square\n", r"classes.txt:2: expected '<id> <name>'"),
                                           ("10 ground\n10 again\n", r"classes.txt:2: class id 10 listed twice"),
                                           ("# nothing\n", r"classes.txt: no classes listed"),
                                           ("255 void\n", r"classes.txt:1: expected .* 0..254")])
def test_classes_txt_errors_name_the_line(tmp_path, text, message):
    src = make_folder(tmp_path / "src", kind="multiclass")
    (src / "classes.txt").write_text(text)
    with pytest.raises(DatasetError, match=message):
        prepare(src, tmp_path)
    with pytest.raises(DatasetError, match="for a multi-class task, but the kind is binary"):
        (src / "classes.txt").write_text("10 ground\n")
        prepare(src, tmp_path, kind="binary")


def test_multilabel_channel_values_are_checked(tmp_path):
    src = make_folder(tmp_path / "src", kind="multilabel")
    _save(src / "masks" / "dead" / "img04.png", np.full((40, 48), 128, np.uint8))
    with pytest.raises(DatasetError, match=r"dead/img04.png: a binary mask.*\[128\]"):
        prepare(src, tmp_path)


def test_empty_split(tmp_path):
    src = make_folder(tmp_path / "src", n=2)
    with pytest.raises(DatasetError, match="too few for the split: empty"):
        prepare(src, tmp_path)


def test_committed_split_must_match_the_files(tmp_path):
    src = make_folder(tmp_path / "src")
    prepare(src, tmp_path)
    for suffix in ("images", "masks"):
        (src / suffix / "img07.png").unlink()
    with pytest.raises(DatasetError, match=r"split kept there names other files.*listed but not here: \['img07'\]"):
        prepare(src, tmp_path)


def test_cli_prepare(tmp_path, capsys):
    src = make_folder(tmp_path / "src")
    code = main(["prepare", "folder", "--src", str(src), "--name", "mine", "--size", "32",
                 "--prepared-dir", str(tmp_path / "prep"), "--splits-dir", str(tmp_path / "splits")])
    assert code == 0 and "binary" in capsys.readouterr().out
    assert main(["prepare", "folder", "--src", str(tmp_path / "nothing"), "--name", "x",
                 "--prepared-dir", str(tmp_path / "prep"), "--splits-dir", str(tmp_path / "splits")]) == 2


# --- the real samples, when this checkout has them ----------------------------------------------------

@pytest.mark.skipif(not (SHARED / "isic2017_val_lesions").is_dir(), reason="shared real samples absent")
def test_real_isic_sample_prepares(tmp_path):
    dst = prepare_folder(SHARED / "isic2017_val_lesions", "isic", dst=tmp_path / "isic", splits_dir=tmp_path / "s",
                         size=64)
    manifest = json.loads((dst / "manifest.json").read_text())
    assert manifest["kind"] == "binary" and sum(manifest["splits"].values()) == 60


@pytest.mark.skipif(not (SHARED / "usiigaci_phase_contrast_cells").is_dir(), reason="shared real samples absent")
def test_real_cell_sample_counts_match_the_instances(tmp_path):
    """The cells as a HeLa-like multi-label folder (alive = all cells, position discs): MCCE's cell count on
    the ground truth agrees with the hand-drawn instances (measured: 1885 of 1888 at full resolution;
    at 512 px 1874; at 256 px 1658 remain: the discs stay separate, the 3x3 erosion deletes the smallest)."""
    from imlib.metrics import count_cells

    root = SHARED / "usiigaci_phase_contrast_cells"
    src = tmp_path / "cells"
    (src / "masks").mkdir(parents=True)
    (src / "images").symlink_to((root / "images").resolve())
    (src / "masks" / "alive").symlink_to((root / "masks").resolve())
    (src / "masks" / "position").symlink_to((root / "position").resolve())
    dst = prepare_folder(src, "cells", dst=tmp_path / "prep", splits_dir=tmp_path / "splits", size=512)
    manifest = json.loads((dst / "manifest.json").read_text())
    assert manifest["kind"] == "multilabel" and manifest["class_names"] == ["alive", "position", "dead"]  # dead = 0
    counted = truth = 0
    for part in ("labeled", "unlabeled", "val", "test"):
        with np.load(dst / f"{part}.npz") as z:
            for stem, lab in zip(z["stems"], z["labels"]):
                alive, dead = count_cells(lab[1] > 0, lab[0] > 0, np.zeros_like(lab[0], bool))
                counted += alive + dead
                truth += len(np.unique(np.asarray(Image.open(root / "instances" / f"{stem}.png")))) - 1
    assert abs(counted - truth) <= 0.02 * truth


# --- ISIC 2018 Task 1 in its official layout ---------------------------------------------------------

def make_isic(root: Path, counts=(10, 2, 3)) -> Path:
    rng = np.random.default_rng(1)
    for part, n in zip(("Training", "Validation", "Test"), counts):
        for i in range(n):
            stem = f"ISIC_{part[:2]}{i:05d}"
            _save(root / f"ISIC2018_Task1-2_{part}_Input" / f"{stem}.jpg", rng.integers(0, 255, (30, 40, 3), dtype=np.uint8))
            m = np.zeros((30, 40), np.uint8)
            m[5:15, 10:30] = 255
            _save(root / f"ISIC2018_Task1_{part}_GroundTruth" / f"{stem}_segmentation.png", m)
        (root / f"ISIC2018_Task1-2_{part}_Input" / "LICENSE.txt").write_text("licence")  # ignored: not an image
    return root


def test_isic2018_official_layout(tmp_path):
    from imlib.data.official import isic2018

    src = make_isic(tmp_path / "isic")
    with pytest.raises(DatasetError, match="differ from the official"):
        isic2018.prepare(src, tmp_path / "prep" / "isic2018", tmp_path / "splits", size=32)
    dst = isic2018.prepare(src, tmp_path / "prep" / "isic2018", tmp_path / "splits", size=32, strict_counts=False)
    manifest = json.loads((dst / "manifest.json").read_text())
    assert manifest["splits"] == {"labeled": 1, "unlabeled": 9, "val": 2, "test": 3}
    with np.load(dst / "test.npz") as z:
        assert z["labels"].shape == (3, 1, 32, 32) and set(np.unique(z["labels"])) == {0, 1}
        assert list(z["stems"]) == ["ISIC_Te00000", "ISIC_Te00001", "ISIC_Te00002"]  # suffix stripped
    ds = load_dataset(make_config("smoke", dataset="isic2018", prepared_dir=str(tmp_path / "prep")))
    assert ds.task.kind == "binary" and ds.sizes() == {"labeled": 1, "unlabeled": 9, "val": 2, "test": 3}


def test_isic2018_errors_name_the_folder_and_file(tmp_path):
    from imlib.data.official import isic2018

    src = make_isic(tmp_path / "isic")
    bad = src / "ISIC2018_Task1_Test_GroundTruth" / "ISIC_Te00001_segmentation.png"
    bad.rename(bad.with_name("ISIC_Te00001.png"))
    with pytest.raises(DatasetError, match="ISIC_Te00001.png: expected a ground-truth file named"):
        isic2018.prepare(src, tmp_path / "p", tmp_path / "s", size=32, strict_counts=False)
    import shutil

    shutil.rmtree(src / "ISIC2018_Task1-2_Validation_Input")
    with pytest.raises(DatasetError, match="Validation_Input: missing folder"):
        isic2018.prepare(src, tmp_path / "p", tmp_path / "s", size=32, strict_counts=False)


# --- SUIM in its official layout ---------------------------------------------------------------------

SUIM_COLOURS = {1: (0, 0, 0), 2: (0, 0, 255), 4: (0, 255, 255), 7: (255, 255, 0)}


def make_suim(root: Path, counts=(12, 3)) -> Path:
    rng = np.random.default_rng(2)
    for part, n in zip(("train_val", "TEST"), counts):
        for i in range(n):
            stem = f"s{part[:2]}{i}"
            _save(root / part / "images" / f"{stem}.jpg", rng.integers(0, 255, (300, 360, 3), dtype=np.uint8))
            rgb = np.zeros((300, 360, 3), np.uint8)
            rgb[:150] = SUIM_COLOURS[2]
            rgb[150:, :100] = (250, 250, 5)  # near-yellow: thresholded at 128 -> fish (7)
            _save(root / part / "masks" / f"{stem}.bmp", rgb)
    return root


def test_suim_official_layout_with_seeded_crops(tmp_path):
    from imlib.data.official import suim

    src = make_suim(tmp_path / "suim")
    dst = suim.prepare(src, tmp_path / "prep" / "suim", tmp_path / "splits", size=32)
    manifest = json.loads((dst / "manifest.json").read_text())
    assert manifest["splits"] == {"labeled": 1, "unlabeled": 10, "val": 1, "test": 3}
    with np.load(dst / "unlabeled.npz") as z:
        assert z["images"].shape == (20, 3, 32, 32)  # two crops per image
        assert set(np.unique(z["labels"])) <= {1, 2, 7}
        first = z["images"].copy()
        assert all(n.endswith(("#0", "#1")) for n in z["stems"])
    dst = suim.prepare(src, tmp_path / "prep" / "suim", tmp_path / "splits", size=32)  # seeded: identical
    with np.load(dst / "unlabeled.npz") as z:
        assert np.array_equal(z["images"], first)
    ds = load_dataset(make_config("smoke", dataset="suim", prepared_dir=str(tmp_path / "prep")))
    assert ds.task.kind == "multiclass" and ds.task.num_outputs == 9 and not ds.task.augment.free_rotation


def test_suim_square_crops_fit_inside_the_image():
    import random

    from imlib.data.official.suim import square_crops

    for t, l, side in square_crops(480, 640, 50, random.Random(0)):
        assert 256 <= side <= 480 and 0 <= t <= 480 - side and 0 <= l <= 640 - side


@pytest.mark.skipif(not (SHARED / "suim_test_samples").is_dir(), reason="shared real samples absent")
def test_real_suim_colour_masks_decode_to_the_papers_class_ids():
    from imlib.data.official.suim import decode_colour_mask

    root = SHARED / "suim_test_samples"
    for f in sorted((root / "masks_rgb").glob("*.png")):
        ids = decode_colour_mask(np.asarray(Image.open(f).convert("RGB")))
        assert np.array_equal(ids, np.asarray(Image.open(root / "masks" / f.name))), f.name


# --- HeLa in the authors' release layout -------------------------------------------------------------

def make_hela(root: Path, counts=(10, 2, 2), mod_position=True) -> Path:
    rng = np.random.default_rng(3)
    for part, n in zip(("train_full", "val", "test"), counts):
        base = root / "original_data" / part
        for i in range(n):
            stem = f"{part}_{i}"
            _save(base / "brightfield" / f"{stem}.tif", rng.integers(0, 255, (300, 400), dtype=np.uint8))
            alive = np.zeros((300, 400), np.uint8)
            alive[50:90, 60:120] = 200  # > 10 -> 1
            _save(base / "alive" / f"{stem}.png", alive)
            _save(base / "dead" / f"{stem}.png", np.full((300, 400), 5, np.uint8))  # <= 10 -> 0
            pos = np.zeros((300, 400), np.uint8)
            pos[68:72, 88:92] = 255
            _save(base / ("mod_position" if mod_position else "position") / f"{stem}.png", pos)
    return root


def test_hela_tiles_with_60_percent_overlap():
    from imlib.data.official.hela import tile_starts

    assert tile_starts(300) == [0, 44] and tile_starts(400) == [0, 100, 144] and tile_starts(256) == [0]
    starts = tile_starts(1024)
    assert starts[0] == 0 and starts[-1] == 1024 - 256
    assert all(b - a <= 256 * 0.4 + 1 for a, b in zip(starts, starts[1:]))  # at least 60 % overlap
    with pytest.raises(DatasetError, match="smaller than the 256 px crop"):
        tile_starts(200)


def test_hela_split_is_per_image_so_crops_never_straddle_it(tmp_path):
    from imlib.data.official import hela

    dst = hela.prepare(make_hela(tmp_path / "hela"), tmp_path / "prep" / "hela", tmp_path / "splits")
    manifest = json.loads((dst / "manifest.json").read_text())
    assert manifest["splits"] == {"labeled": 1, "unlabeled": 9, "val": 2, "test": 2}
    assert manifest["crops"] == {"labeled": 6, "unlabeled": 54, "val": 12, "test": 12}
    images_of = {}
    for part in ("labeled", "unlabeled"):
        with np.load(dst / f"{part}.npz") as z:
            images_of[part] = {str(n).split("@")[0] for n in z["stems"]}
            if part == "labeled":
                assert z["images"].shape == (6, 1, 256, 256)
                lab = z["labels"]
    assert not images_of["labeled"] & images_of["unlabeled"]
    assert lab[:, 1].max() == 0 and lab[:, 0].max() == 1  # thresholds at > 10
    ds = load_dataset(make_config("smoke", dataset="hela", prepared_dir=str(tmp_path / "prep")))
    assert ds.task.metric == "mcce" and ds.task.position_channel == 2


def test_hela_missing_channel_folder(tmp_path):
    from imlib.data.official import hela

    src = make_hela(tmp_path / "hela", counts=(3, 1, 1), mod_position=False)
    import shutil

    shutil.rmtree(src / "original_data" / "val" / "dead")
    with pytest.raises(DatasetError, match=r"val/dead: missing folder"):
        hela.prepare(src, tmp_path / "p", tmp_path / "s")


# --- the datasets gallery ----------------------------------------------------------------------------

def test_gallery_lists_prepared_datasets_and_counts_class_pixels(tmp_path):
    from imlib import gallery

    src = make_folder(tmp_path / "src", kind="multiclass")
    prepare_folder(src, "mine", dst=tmp_path / "prepared" / "mine", splits_dir=tmp_path / "splits", size=32)
    names = gallery.available_datasets(tmp_path / "prepared")
    assert names[-1] == "mine" and "synthetic-lesion" in names
    ds = load_dataset(make_config("smoke", dataset="mine", prepared_dir=str(tmp_path / "prepared")))
    freq = gallery.class_frequencies(ds)
    assert list(freq.index) == ["train", "val", "test"]
    assert freq["IM"].eq(0).all() and np.allclose(freq.sum(axis=1), 100)
    # the stripe (2 of 40 rows) resized to 32 rows keeps roughly its share of the pixels
    assert 2 < freq.loc["train", "class 30"] < 8
    sizes = gallery.split_sizes(ds)
    assert sizes.loc[0, "labeled"] == 1 and sizes.loc[0, "data"] == "real" and sizes.loc[0, "image size (px)"] == "32×32"
    styled = gallery.class_table(ds)  # the page's table: a row per class, a column per split, captioned
    assert list(styled.data.columns) == ["train", "val", "test"] and "IM" in styled.data.index
    assert "real data" in styled.caption


# --- every official layout trains ----------------------------------------------------------------------

@pytest.mark.parametrize("dataset", ["isic2018", "suim", "hela"])
def test_official_layouts_train_ldt_and_im(dataset, tmp_path):
    """From the official layout through prepare to LDT and IM, with the task each dataset defines."""
    from imlib.data.official import hela, isic2018, suim

    prep, splits = tmp_path / "prep" / dataset, tmp_path / "splits"
    if dataset == "isic2018":
        isic2018.prepare(make_isic(tmp_path / "src"), prep, splits, size=32, strict_counts=False)
    elif dataset == "suim":
        suim.prepare(make_suim(tmp_path / "src"), prep, splits, size=32)
    else:
        hela.prepare(make_hela(tmp_path / "src", counts=(6, 1, 1)), prep, splits)
    over = dict(epochs=1, steps_per_epoch=2, batch_size=2, n_models=2, n_students=2, generations=1, alpha=0.25,
                prepared_dir=str(tmp_path / "prep"), work_dir=str(tmp_path / "work"))
    metric = {"isic2018": "iou", "suim": "miou", "hela": "mcce"}[dataset]
    for m in ("ldt", "im"):
        rec = methods.run(make_config("smoke", dataset=dataset, method=m, **over), progress=False)
        assert rec.dataset.synthetic is False and rec.task.metric == metric
        assert np.isfinite(rec.headline_test) and rec.headline_test >= 0
    assert rec.generations[-1].pseudo_labels.unlabeled > 0  # IM made pseudo-labels from real crops


# --- the paper's per-dataset defaults (alpha, augmentation) for prepared datasets ---------------------------

# from the original: config.ini's ALPHA and the ranges each 04_*_subset_aug.py passes to its augmentation
PAPER_DEFAULTS = {
    "isic2018": (0.5, dict(free_rotation=True, contrast=(0.5, 1.5), brightness=25.0, blur_kernels=(0, 3, 5, 7),
                           noise=25)),
    "hela": (1.0, dict(free_rotation=True, contrast=(0.7, 1.3), brightness=15.0, blur_kernels=(0, 3, 5, 7), noise=25)),
    "suim": (1.0, dict(free_rotation=False, contrast=(0.5, 1.5), brightness=25.0, blur_kernels=(0, 3, 5, 7),
                       noise=25)),
    "cityscapes": (1.0, dict(free_rotation=False, contrast=(0.6, 1.4), brightness=15.0, blur_kernels=(0, 3),
                             noise=15)),
}


def _defaults(ds):
    a = ds.task.augment
    return ds.default_alpha, dict(free_rotation=a.free_rotation, contrast=tuple(a.contrast), brightness=a.brightness,
                                  blur_kernels=tuple(a.blur_kernels), noise=a.noise)


@pytest.mark.parametrize("dataset", ["isic2018", "hela", "suim"])
def test_official_datasets_get_the_papers_alpha_and_augmentation(dataset, tmp_path):
    """Each prepared official dataset gets the paper's alpha (ISIC 0.5, the others 1) and its own augmentation
    ranges (not ISIC's), also under another name, and also from a manifest written before it named the paper
    dataset (its protocol line tells)."""
    from imlib.data.official import hela, isic2018, suim

    name = f"my_{dataset}"
    prep, splits = tmp_path / "prep" / name, tmp_path / "splits"
    if dataset == "isic2018":
        isic2018.prepare(make_isic(tmp_path / "src"), prep, splits, size=32, strict_counts=False, name=name)
    elif dataset == "suim":
        suim.prepare(make_suim(tmp_path / "src"), prep, splits, size=32, name=name)
    else:
        hela.prepare(make_hela(tmp_path / "src", counts=(3, 1, 1)), prep, splits, name=name)
    manifest = json.loads((prep / "manifest.json").read_text())
    assert manifest["paper_dataset"] == dataset
    cfg = make_config("smoke", dataset=name, prepared_dir=str(tmp_path / "prep"))
    ds = load_dataset(cfg)
    assert _defaults(ds) == PAPER_DEFAULTS[dataset] and ds.provenance["paper_dataset"] == dataset
    del manifest["paper_dataset"]
    (prep / "manifest.json").write_text(json.dumps(manifest))
    assert _defaults(load_dataset(cfg)) == PAPER_DEFAULTS[dataset]


def test_own_folder_defaults_and_the_cityscapes_table():
    from imlib.data.registry import prepared_defaults

    # a folder of one's own: alpha 1.0 and the default ranges, unless the manifest gives them
    alpha, aug = prepared_defaults({"protocol": "imlib prepare folder", "kind": "binary"})
    assert alpha == 1.0 and aug.free_rotation and aug.contrast == (0.5, 1.5)
    alpha, aug = prepared_defaults({"default_alpha": 0.75, "free_rotation": False})
    assert alpha == 0.75 and not aug.free_rotation
    alpha, aug = prepared_defaults({"paper_dataset": "cityscapes"})
    assert (alpha, aug.free_rotation, aug.contrast, aug.brightness, aug.blur_kernels, aug.noise) == \
        (PAPER_DEFAULTS["cityscapes"][0], *PAPER_DEFAULTS["cityscapes"][1].values())
    assert prepared_defaults({"protocol": "Cityscapes, the paper's Study B preprocessing, classes=35"})[0] == 1.0


def test_own_folder_prepared_gets_alpha_one(tmp_path):
    prepare(make_folder(tmp_path / "src"), tmp_path)
    ds = load_dataset(make_config("smoke", dataset="mine", prepared_dir=str(tmp_path / "prepared")))
    assert ds.default_alpha == 1.0 and ds.provenance["paper_dataset"] is None
    assert ds.task.augment.contrast == (0.5, 1.5) and ds.task.augment.free_rotation
