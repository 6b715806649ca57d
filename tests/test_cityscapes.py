"""``imlib prepare cityscapes``: both studies' protocols on a tiny fixture in the official layout."""
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from imlib import methods
from imlib.cli import main
from imlib.config import make_config
from imlib.data.official import cityscapes
from imlib.data.registry import load_dataset
from imlib.data.sources import DatasetError

U2PL_LOCAL = Path(__file__).resolve().parents[2] / "shared" / "spec" / "cityscapes_splits_u2pl"
CITIES = {"train": {"aachen": 6, "bochum": 4}, "val": {"frankfurt": 4}}
W, H = 160, 80  # scaled by 0.2 and rounded up to 16: 32 x 16


def _save(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def make_cityscapes(root: Path) -> Path:
    """Sky (23) above road (7), an 'ego vehicle' (1) band and 'unlabeled' (0) corner: two classes and two voids."""
    rng = np.random.default_rng(3)
    for part, cities in CITIES.items():
        for city, n in cities.items():
            for i in range(n):
                stem = f"{city}_{i:06d}_000019"
                img = rng.integers(0, 80, (H, W, 3), dtype=np.uint8)
                img[: H // 2] += 150
                ids = np.full((H, W), 7, np.uint8)
                ids[: H // 2] = 23
                ids[-8:] = 1
                ids[:8, :8] = 0
                _save(root / "leftImg8bit" / part / city / f"{stem}_leftImg8bit.png", img)
                _save(root / "gtFine" / part / city / f"{stem}_gtFine_labelIds.png", ids)
                _save(root / "gtFine" / part / city / f"{stem}_gtFine_color.png", img)  # other gtFine files: ignored
    return root


def test_study_b_size_follows_the_paper():
    assert cityscapes.study_b_size(2048, 1024) == (416, 208)
    assert cityscapes.study_b_size(W, H) == (32, 16)


def test_label_tables_match_cityscapes_scripts():
    lut = cityscapes.train_id_lut()
    assert (lut[7], lut[8], lut[23], lut[26], lut[33]) == (0, 1, 10, 13, 18)
    assert lut[0] == lut[1] == lut[9] == lut[29] == 255 and len(cityscapes.TRAIN_NAMES) == 19
    assert cityscapes.TRAIN_NAMES[0] == "road" and cityscapes.TRAIN_NAMES[-1] == "bicycle"
    paper = cityscapes.label_lut("paper")
    assert paper[0] == 1 and paper[33] == 34 and len(cityscapes.class_names("paper")) == 35  # 0 stays IM


def test_study_b_trainids(tmp_path):
    src = make_cityscapes(tmp_path / "cs")
    with pytest.raises(DatasetError, match="differ from the official"):
        cityscapes.prepare(src, tmp_path / "prep" / "cityscapes", tmp_path / "splits")
    dst = cityscapes.prepare(src, tmp_path / "prep" / "cityscapes", tmp_path / "splits", strict_counts=False)
    manifest = json.loads((dst / "manifest.json").read_text())
    assert manifest["splits"] == {"labeled": 1, "unlabeled": 9, "val": 2, "test": 2}
    assert manifest["size"] == [16, 32] and manifest["class_names"][:3] == ["IM", "road", "sidewalk"]
    with np.load(dst / "unlabeled.npz") as z:
        assert z["images"].shape == (9, 3, 16, 32) and z["labels"].shape == (9, 1, 16, 32)
        labels = z["labels"]
    assert set(np.unique(labels)) == {1, 11, 255}  # road -> 1, sky -> 11, voids ignored
    assert (labels[:, 0, :7] != 1).all() and (labels[:, 0, 9:14] == 1).all()
    assert (labels[:, 0, -1] == 255).all()  # the ego-vehicle band
    test = (tmp_path / "splits" / "cityscapes" / "test.txt").read_text().split()
    assert len(test) == 2 and all(s.startswith("frankfurt_") for s in test)  # val halves: validation and test
    ds = load_dataset(make_config("smoke", dataset="cityscapes", prepared_dir=str(tmp_path / "prep")))
    assert ds.task.num_outputs == 20 and ds.task.kind == "multiclass" and not ds.task.augment.free_rotation


def test_study_b_paper_classes(tmp_path):
    src = make_cityscapes(tmp_path / "cs")
    dst = cityscapes.prepare(src, tmp_path / "prep" / "cs35", tmp_path / "splits", name="cs35", classes="paper",
                             strict_counts=False)
    with np.load(dst / "test.npz") as z:
        assert set(np.unique(z["labels"])) == {1, 2, 8, 24}  # unlabeled, ego vehicle, road, sky: id + 1
    assert len(json.loads((dst / "manifest.json").read_text())["class_names"]) == 35


def test_study_b_trains_ldt_and_im_on_a_non_square_scene(tmp_path):
    src = make_cityscapes(tmp_path / "cs")
    cityscapes.prepare(src, tmp_path / "prep" / "cityscapes", tmp_path / "splits", strict_counts=False)
    over = dict(epochs=2, steps_per_epoch=2, batch_size=4, n_models=2, n_students=2, generations=1, alpha=0.25,
                prepared_dir=str(tmp_path / "prep"), work_dir=str(tmp_path / "work"))
    for m in ("ldt", "im", "unimatch"):  # UniMatch: CutMix boxes on a 2:1 image
        rec = methods.run(make_config("smoke", dataset="cityscapes", method=m, **over), progress=False)
        assert 0 <= rec.result.test["miou"] <= 1 and rec.dataset.synthetic is False


def test_study_b_split_is_committed_and_checked(tmp_path):
    src = make_cityscapes(tmp_path / "cs")
    cityscapes.prepare(src, tmp_path / "p1", tmp_path / "splits", strict_counts=False)
    first = (tmp_path / "splits" / "cityscapes" / "labeled.txt").read_text()
    with pytest.raises(DatasetError, match=r"made with seed 42.*this run asks for seed 7"):  # never silently reused
        cityscapes.prepare(src, tmp_path / "p2", tmp_path / "splits", strict_counts=False, seed=7)
    cityscapes.prepare(src, tmp_path / "p2", tmp_path / "splits", strict_counts=False)  # same values: lists reused
    assert (tmp_path / "splits" / "cityscapes" / "labeled.txt").read_text() == first
    for p in (src / "leftImg8bit" / "train" / "bochum").glob("bochum_000003*"):
        p.unlink()
    (src / "gtFine" / "train" / "bochum" / "bochum_000003_000019_gtFine_labelIds.png").unlink()
    with pytest.raises(DatasetError, match=r"listed but not here: \['bochum_000003_000019'\]"):
        cityscapes.prepare(src, tmp_path / "p3", tmp_path / "splits", strict_counts=False)


def test_study_b_errors_name_the_file(tmp_path):
    src = make_cityscapes(tmp_path / "cs")
    bad = src / "gtFine" / "val" / "frankfurt" / "frankfurt_000002_000019_gtFine_labelIds.png"
    ids = np.full((H, W), 7, np.uint8)
    ids[0, :3] = (40, 41, 250)
    _save(bad, ids)
    with pytest.raises(DatasetError, match=r"frankfurt_000002_000019_gtFine_labelIds.png: values \[40, 41, 250\]"):
        cityscapes.prepare(src, tmp_path / "p", tmp_path / "s", strict_counts=False)
    bad.unlink()
    with pytest.raises(DatasetError, match="images without a mask in .*frankfurt_000002_000019"):
        cityscapes.prepare(src, tmp_path / "p", tmp_path / "s", strict_counts=False)
    import shutil

    shutil.rmtree(src / "gtFine" / "train")
    with pytest.raises(DatasetError, match="gtFine/train: missing folder"):
        cityscapes.prepare(src, tmp_path / "p", tmp_path / "s", strict_counts=False)
    assert not (tmp_path / "p").exists()  # nothing half-written


# --- Study A ----------------------------------------------------------------------------------------

def make_u2pl_lists(root: Path, src: Path, labeled: int = 2) -> dict[str, str]:
    """Lists in U2PL's format for the fixture (one partition, named '2'), and their checksums."""
    train = sorted(p.relative_to(src).as_posix() for p in (src / "leftImg8bit" / "train").glob("*/*.png"))
    val = sorted(p.relative_to(src).as_posix() for p in (src / "leftImg8bit" / "val").glob("*/*.png"))
    files = {f"{labeled}/labeled.txt": train[:labeled], f"{labeled}/unlabeled.txt": train[labeled:], "val.txt": val}
    sums = {}
    for rel, entries in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("\n".join(entries) + "\n")
        sums[rel] = hashlib.sha256((root / rel).read_bytes()).hexdigest()
    return sums


def test_study_a_writes_train_ids_and_the_u2pl_partitions(tmp_path):
    src = make_cityscapes(tmp_path / "cs")
    sums = make_u2pl_lists(tmp_path / "u2pl", src)
    dst = cityscapes.prepare_study_a(src, tmp_path / "prep" / "csa", cache=tmp_path / "cache",
                                     u2pl_splits=tmp_path / "u2pl", checksums=sums)
    manifest = json.loads((dst / "manifest.json").read_text())
    assert manifest["splits"] == {"2": {"labeled": 2, "unlabeled": 8}, "val": 4}
    labeled = cityscapes.study_a_pairs(dst, "2", "labeled")
    assert len(labeled) == 2 and all(img.exists() and lab.exists() for img, lab in labeled)
    lab = np.asarray(Image.open(labeled[0][1]))
    assert lab.shape == (H, W) and set(np.unique(lab)) == {0, 10, 255}  # full resolution, train ids
    assert (lab[-8:] == 255).all() and (lab[:8, :8] == 255).all() and lab[H // 2 + 1, W // 2] == 0
    assert np.array_equal(np.asarray(Image.open(labeled[0][0])), np.asarray(Image.open(src / "leftImg8bit" / "train"
                          / labeled[0][0].parent.name / labeled[0][0].name)))
    assert len(cityscapes.study_a_pairs(dst, "2", "val")) == 4
    with pytest.raises(ValueError, match="prepared for Study A"):
        load_dataset(make_config("smoke", dataset="csa", prepared_dir=str(tmp_path / "prep")))
    from imlib.gallery import available_datasets

    assert "csa" not in available_datasets(tmp_path / "prep")


def test_study_a_checks_the_lists(tmp_path):
    src = make_cityscapes(tmp_path / "cs")
    sums = make_u2pl_lists(tmp_path / "u2pl", src)
    (tmp_path / "u2pl" / "2" / "labeled.txt").write_text("leftImg8bit/train/aachen/aachen_000000_000019_leftImg8bit.png\n")
    with pytest.raises(DatasetError, match="2/labeled.txt: SHA-256 .* differs from the expected"):
        cityscapes.prepare_study_a(src, tmp_path / "p", cache=tmp_path / "c1", u2pl_splits=tmp_path / "u2pl",
                                   checksums=sums)
    sums = make_u2pl_lists(tmp_path / "u2pl", src)
    (src / "leftImg8bit" / "train" / "bochum" / "bochum_000001_000019_leftImg8bit.png").unlink()
    (src / "gtFine" / "train" / "bochum" / "bochum_000001_000019_gtFine_labelIds.png").unlink()
    with pytest.raises(DatasetError, match=r"U2PL split 2 .*listed but not here: \['bochum_000001_000019'\]"):
        cityscapes.prepare_study_a(src, tmp_path / "p", cache=tmp_path / "c2", u2pl_splits=tmp_path / "u2pl",
                                   checksums=sums)
    assert not (tmp_path / "p").exists()


def test_study_a_offline_fetch_is_a_clear_error(tmp_path, monkeypatch, offline_url):
    src = make_cityscapes(tmp_path / "cs")
    monkeypatch.setattr(cityscapes, "U2PL_URL", offline_url)
    with pytest.raises(DatasetError, match="could not connect .*; nothing was written"):
        cityscapes.prepare_study_a(src, tmp_path / "p", cache=tmp_path / "cache")
    assert not any(p.is_file() for p in (tmp_path / "cache").rglob("*")) and not (tmp_path / "p").exists()


def test_cli_prepare_cityscapes(tmp_path, capsys):
    src = make_cityscapes(tmp_path / "cs")
    assert main(["prepare", "cityscapes", "--src", str(src), "--subset", "--prepared-dir", str(tmp_path / "prep"),
                 "--splits-dir", str(tmp_path / "splits")]) == 0
    assert "'labeled': 1" in capsys.readouterr().out
    assert main(["prepare", "cityscapes", "--src", str(src), "--protocol", "study-a", "--u2pl-splits",
                 str(tmp_path / "nowhere"), "--prepared-dir", str(tmp_path / "prep")]) == 2
    assert "nowhere/186/labeled.txt: missing" in capsys.readouterr().err


@pytest.mark.skipif(not U2PL_LOCAL.is_dir(), reason="needs ../shared/spec/cityscapes_splits_u2pl")
def test_real_u2pl_lists_match_the_pinned_checksums_and_the_committed_study_b_split(tmp_path):
    lists = cityscapes.u2pl_lists(tmp_path / "cache", U2PL_LOCAL)
    train = {Path(e).name[: -len("_leftImg8bit.png")] for e in lists["186/labeled.txt"] + lists["186/unlabeled.txt"]}
    val = {Path(e).name[: -len("_leftImg8bit.png")] for e in lists["val.txt"]}
    assert len(train) == 2975 and len(val) == 500
    for n, expected in zip((186, 372, 744, 1488), (186, 372, 744, 1488)):
        assert len(lists[f"{n}/labeled.txt"]) == expected
    committed = Path(__file__).resolve().parents[1] / "data" / "splits" / "cityscapes"
    split = {k: (committed / f"{k}.txt").read_text().split() for k in ("labeled", "unlabeled", "val", "test")}
    assert (len(split["labeled"]), len(split["unlabeled"]), len(split["val"]), len(split["test"])) == (297, 2678, 250, 250)
    assert set(split["labeled"]) | set(split["unlabeled"]) == train and set(split["val"]) | set(split["test"]) == val
