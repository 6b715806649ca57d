"""People's own data as it is (issue 18): void ids declared in classes.txt and 16-bit masks read at their depth,
on small generated folders, through the CLI as a user runs it."""
import json
import re

import numpy as np
import pytest
from PIL import Image

from imlib.cli import main
from imlib.data.folder import IGNORE, read_classes
from test_faults_folder import manifest, one_error, prepare_cli
from test_folder import _save, make_folder


def _labels(tmp_path):
    parts = {}
    for part in ("labeled", "val", "test"):
        with np.load(tmp_path / "prep" / "x" / f"{part}.npz") as z:
            parts[part] = z["labels"] if "labels" in z else z[list(z.keys())[-1]]
    return parts


def test_a_void_id_declared_in_classes_txt_is_ignored_not_a_class(tmp_path, capsys):
    src = make_folder(tmp_path / "src", kind="multiclass")  # ids 10 ground, 20 square, 30 stripe
    (src / "classes.txt").write_text("10 ground\n20 square\nignore 30   # the stripe is 'void'\n")
    rc, err = prepare_cli(src, tmp_path, capsys)
    assert rc == 0, err
    info = manifest(tmp_path)
    assert info["class_names"] == ["IM", "ground", "square"] and info["class_ids"] == [10, 20]
    assert info["ignore_ids"] == [30]
    labels = np.concatenate([v.reshape(-1) for v in _labels(tmp_path).values()])
    assert set(np.unique(labels).tolist()) == {1, 2, 255}  # the void stripe is 255 = ignore, never a class


def test_void_lines_are_checked(tmp_path):
    path = tmp_path / "classes.txt"
    path.write_text("1 road\nignore 11 12\n")
    assert read_classes(path) == {1: "road", 11: IGNORE, 12: IGNORE}
    for bad, said in (("1 road\nignore\n", "expected 'ignore <id>"), ("1 road\nignore 300\n", "ids in 0..254"),
                      ("1 road\nignore 1\n", "class id 1 listed twice"), ("ignore 3\n", "no classes listed")):
        path.write_text(bad)
        try:
            read_classes(path)
        except Exception as e:  # DatasetError, one line naming the file and line
            assert said in str(e) and str(path) in str(e)
        else:
            raise AssertionError(f"accepted {bad!r}")


def test_16_bit_class_ids_are_read_at_their_depth_and_too_large_ids_are_an_error(tmp_path, capsys):
    src = make_folder(tmp_path / "src", kind="multiclass")
    for p in sorted((src / "masks").glob("*.png")):  # the same ids, stored as 16-bit PNGs
        Image.fromarray(np.asarray(Image.open(p)).astype(np.uint16)).save(p)
    assert Image.open(next((src / "masks").glob("*.png"))).mode.startswith("I")
    rc, err = prepare_cli(src, tmp_path, capsys, "--kind", "multiclass")
    assert rc == 0, err
    assert manifest(tmp_path)["class_ids"] == [10, 20, 30]
    bad = sorted((src / "masks").glob("*.png"))[3]
    m = np.asarray(Image.open(bad)).astype(np.uint16)
    m[:4, :4] = 300
    Image.fromarray(m).save(bad)
    msg = one_error(*prepare_cli(src, tmp_path, capsys, "--kind", "multiclass"))
    assert str(bad) in msg and "[300]" in msg and "do not fit" in msg


def test_the_manifest_of_a_folder_without_void_ids_says_so(tmp_path, capsys):
    src = make_folder(tmp_path / "src")
    rc, err = prepare_cli(src, tmp_path, capsys)
    assert rc == 0, err
    assert json.loads((tmp_path / "prep" / "x" / "manifest.json").read_text())["ignore_ids"] == []


def test_position_and_unknown_folders_are_refused_never_ignored(tmp_path, capsys):
    src = make_folder(tmp_path / "src")
    (src / "position").mkdir()
    _save(src / "position" / "img00.png", np.zeros((40, 48), np.uint8))
    msg = one_error(*prepare_cli(src, tmp_path, capsys))
    assert "position/" in msg and "masks/alive/" in msg and "masks/position/" in msg and "instances/" in msg
    (src / "position" / "img00.png").unlink()
    (src / "position").rmdir()
    (src / "extra").mkdir()
    assert "extra/ are not read" in one_error(*prepare_cli(src, tmp_path, capsys))


def _cells_with_instances(root, n=12, size=96, cells=5, seed=2):
    """A cell folder as microscopy tools export it: alive masks and a 16-bit instance map (ids from 1000 up,
    beyond 8 bits); returns the number of cells per image."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    for i in range(n):
        img = rng.integers(0, 60, (size, size), dtype=np.uint8)
        ids = np.zeros((size, size), np.uint16)
        centres = [(16 + 32 * (k % 3) + int(rng.integers(0, 4)), 18 + 36 * (k // 3)) for k in range(cells)]
        for k, (cy, cx) in enumerate(centres):
            ids[(yy - cy) ** 2 + (xx - cx) ** 2 <= 36] = 1000 + k
        img[ids > 0] = 200
        _save(root / "images" / f"c{i:02d}.png", img)
        _save(root / "masks" / "alive" / f"c{i:02d}.png", ((ids > 0) * 255).astype(np.uint8))
        _save(root / "instances" / f"c{i:02d}.png", ids)
    return cells


def test_instance_maps_give_the_positions_with_the_papers_disc_rule(tmp_path, capsys):
    from imlib.cell_positions import position_centroids
    from imlib.config import make_config
    from imlib.data.registry import load_dataset

    src = tmp_path / "src"
    cells = _cells_with_instances(src)
    assert Image.open(src / "instances" / "c00.png").mode.startswith("I")
    rc, err = prepare_cli(src, tmp_path, capsys)
    assert rc == 0, err
    info = manifest(tmp_path)
    assert info["class_names"] == ["alive", "position", "dead"]
    assert info["notes"][0].startswith(f"positions from instances/: a disc at each of {12 * cells} cells")
    assert "all-zero dead channel" in info["notes"][1]
    assert any(f.startswith("instances/") for f in info["files"])
    ds = load_dataset(make_config("smoke", dataset="x", prepared_dir=str(tmp_path / "prep")))
    assert ds.task.metric == "mcce"
    pos = ds.labeled.labels[:, ds.task.position_channel].cpu().numpy()
    for p in pos:  # every cell a disc the cell count finds, at the prepared 32 px (radius 3: never eroded away)
        assert len(position_centroids(p)) == cells
    # positions from two sources, or instances without a cell-count layout, are refused
    (src / "masks" / "position").mkdir()
    assert "both masks/position/ and instances/" in one_error(*prepare_cli(src, tmp_path, capsys))
    (src / "masks" / "position").rmdir()
    for p in (src / "masks" / "alive").glob("*.png"):
        p.rename(src / "masks" / p.name)
    (src / "masks" / "alive").rmdir()
    msg = one_error(*prepare_cli(src, tmp_path, capsys))
    assert "instances" in msg and "masks/alive/" in msg


def test_merging_discs_from_instances_are_warned_about(tmp_path, capsys):
    src = tmp_path / "src"
    _cells_with_instances(src, cells=8)
    rc, err = prepare_cli(src, tmp_path, capsys, "--size", "16")
    assert rc == 0, err
    assert "neighbouring discs merge" in manifest(tmp_path)["notes"][0]


def test_cells_without_a_dead_channel_still_get_the_cell_count_and_say_so(tmp_path, capsys):
    from imlib.config import make_config
    from imlib.data.registry import load_dataset

    src = make_folder(tmp_path / "src", kind="multilabel")  # masks/alive and masks/dead
    for p in sorted((src / "masks" / "dead").glob("*.png")):  # dead -> position: alive + position only
        (src / "masks" / "position").mkdir(exist_ok=True)
        p.rename(src / "masks" / "position" / p.name)
    (src / "masks" / "dead").rmdir()
    capsys.readouterr()
    rc, err = prepare_cli(src, tmp_path, capsys)
    assert rc == 0, err
    info = manifest(tmp_path)
    assert info["class_names"] == ["alive", "position", "dead"] and "all-zero dead channel" in info["notes"][0]
    ds = load_dataset(make_config("smoke", dataset="x", prepared_dir=str(tmp_path / "prep")))
    assert ds.task.metric == "mcce" and int(ds.labeled.labels[:, 2].sum()) == 0


def _cells_with_positions(root, n=12, size=96, radius=4):
    """A cell folder: alive masks and position discs of ``radius`` px on ``size`` px images."""
    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[:size, :size]
    for i in range(n):
        img = rng.integers(0, 60, (size, size, 3), dtype=np.uint8)
        alive, pos = np.zeros((size, size), bool), np.zeros((size, size), bool)
        for cy, cx in rng.integers(12, size - 12, (4, 2)):
            alive |= (yy - cy) ** 2 + (xx - cx) ** 2 <= 100
            pos |= (yy - cy) ** 2 + (xx - cx) ** 2 <= radius ** 2
        img[alive] = 200
        _save(root / "images" / f"c{i:02d}.png", img)
        _save(root / "masks" / "alive" / f"c{i:02d}.png", (alive * 255).astype(np.uint8))
        _save(root / "masks" / "dead" / f"c{i:02d}.png", np.zeros((size, size), np.uint8))
        _save(root / "masks" / "position" / f"c{i:02d}.png", (pos * 255).astype(np.uint8))
    return root


def test_a_size_that_shrinks_position_discs_below_the_erosion_is_warned_about(tmp_path, capsys):
    from imlib.cell_positions import blobs_lost_to_erosion

    disc = np.zeros((9, 9), bool)
    disc[3:6, 4] = disc[4, 3:6] = True  # a disc of radius 1: gone after a 3x3 erosion
    big = np.zeros((9, 9), bool)
    big[2:7, 2:7] = True
    assert blobs_lost_to_erosion(disc) == (1, 1) and blobs_lost_to_erosion(big) == (0, 1)
    src = _cells_with_positions(tmp_path / "src")
    capsys.readouterr()
    assert main_prepare(src, tmp_path, "96") == 0
    assert not [n for n in manifest(tmp_path)["notes"] if n.startswith("warning")]
    assert main_prepare(src, tmp_path, "32") == 0  # radius 4 -> ~1.3 px: the erosion deletes them
    notes = manifest(tmp_path)["notes"]
    assert any(n.startswith("warning: at --size 32") and "position discs" in n for n in notes), notes
    assert "note: warning: at --size 32" in capsys.readouterr().out


def main_prepare(src, tmp_path, size):
    from imlib.cli import main

    import shutil

    shutil.rmtree(tmp_path / "prep", ignore_errors=True)
    shutil.rmtree(tmp_path / "splits", ignore_errors=True)
    return main(["prepare", "folder", "--src", str(src), "--name", "x", "--size", size,
                 "--prepared-dir", str(tmp_path / "prep"), "--splits-dir", str(tmp_path / "splits")])


# --- a split the dataset ships (--split-file) and where user lists are kept --------------------------------

def _parts(dst):
    return {p: (dst / "split" / f"{p}.txt").read_text().split() for p in ("labeled", "unlabeled", "val", "test")}


def test_user_split_lists_are_kept_in_the_prepared_dataset_not_in_data_splits(tmp_path, capsys, monkeypatch):
    """Without --splits-dir the lists go inside the prepared dataset (ignored by git), not data/splits/."""
    src = make_folder(tmp_path / "src")
    monkeypatch.chdir(tmp_path)
    assert main(["prepare", "folder", "--src", str(src), "--name", "x", "--size", "32"]) == 0
    dst = tmp_path / "data" / "prepared" / "x"
    assert not (tmp_path / "data" / "splits").exists()
    parts = _parts(dst)
    assert sorted(sum(parts.values(), [])) == [f"img{i:02d}" for i in range(20)]
    assert json.loads((dst / "split" / "split.json").read_text())["seed"] == 42
    # preparing again reuses the kept lists; another seed is refused, naming the kept split
    assert main(["prepare", "folder", "--src", str(src), "--name", "x", "--size", "32"]) == 0
    assert _parts(dst) == parts
    capsys.readouterr()
    err = one_error(main(["prepare", "folder", "--src", str(src), "--name", "x", "--size", "32", "--seed", "7"]),
                    capsys.readouterr().err)
    assert "split kept there was made with seed 42" in err and "--seed 42" in err


def _split_file(path, rows, header="image\tsplit"):
    path.write_text("\n".join([header] + [f"{a}\t{b}" for a, b in rows]) + "\n")
    return path


def test_a_split_file_decides_the_split(tmp_path, capsys):
    src = make_folder(tmp_path / "src", unlabeled=2)
    rows = ([(f"images/img{i:02d}.png", "test") for i in range(4)] + [(f"img{i:02d}", "validation") for i in range(4, 7)]
            + [(f"img{i:02d}.png", "labeled") for i in range(7, 9)] + [(f"img{i:02d}", "unlabeled") for i in range(9, 20)])
    sf = _split_file(tmp_path / "splits.tsv", rows)
    rc, err = prepare_cli(src, tmp_path, capsys, "--split-file", str(sf))
    assert rc == 0, err
    m = manifest(tmp_path)
    assert m["splits"] == {"labeled": 2, "unlabeled": 13, "val": 3, "test": 4}  # + the 2 images of unlabeled/
    assert m["split_file"] == str(sf.resolve()) and len(m["split_file_sha256"]) == 64
    lists = {p: (tmp_path / "splits" / "x" / f"{p}.txt").read_text().split() for p in ("labeled", "test")}
    assert lists == {"labeled": ["img07", "img08"], "test": ["img00", "img01", "img02", "img03"]}
    with np.load(tmp_path / "prep" / "x" / "test.npz") as z:
        assert z["stems"].tolist() == ["img00", "img01", "img02", "img03"]


def test_a_train_part_is_split_by_the_labeled_fraction(tmp_path, capsys):
    src = make_folder(tmp_path / "src")
    rows = ([(f"img{i:02d}", "test") for i in range(3)] + [(f"img{i:02d}", "val") for i in range(3, 5)]
            + [(f"img{i:02d}", "train") for i in range(5, 20)])
    sf = _split_file(tmp_path / "s.csv", rows, header="")
    rc, err = prepare_cli(src, tmp_path, capsys, "--split-file", str(sf), "--labeled-fraction", "0.2")
    assert rc == 0, err
    assert manifest(tmp_path)["splits"] == {"labeled": 3, "unlabeled": 12, "val": 2, "test": 3}


@pytest.mark.parametrize("rows, message", [
    ([("img00", "test"), ("img01", "dev")], r"s.tsv:3: part 'dev' is not one of train, labeled"),
    ([("img00", "test"), ("nope", "val")], r"s.tsv:3: 'nope' is not an image of the source"),
    ([("img00", "test"), ("img00", "val")], r"s.tsv:3: img00 is listed twice \(first on line 2\)"),
    ([("img00", "test")], r"s.tsv: 19 labeled images are not listed: img01, img02"),
    ([("extra0", "test")], r"s.tsv:2: extra0 has no mask \(it is in unlabeled/\), so it cannot be in test"),
])
def test_split_file_errors_name_the_line(rows, message, tmp_path, capsys):
    src = make_folder(tmp_path / "src", unlabeled=1)
    err = one_error(*prepare_cli(src, tmp_path, capsys, "--split-file", str(_split_file(tmp_path / "s.tsv", rows))))
    assert re.search(message, err), err


def test_a_split_file_in_the_source_is_never_passed_over(tmp_path, capsys):
    src = make_folder(tmp_path / "src")
    (src / "splits.tsv").write_text("img00\ttest\n")
    err = one_error(*prepare_cli(src, tmp_path, capsys))
    assert "splits.tsv: looks like a split this dataset ships" in err and "--split-file seeded" in err
    rc, err = prepare_cli(src, tmp_path, capsys, "--split-file", "seeded")
    assert rc == 0, err
    assert "split_file" not in manifest(tmp_path) and manifest(tmp_path)["test_fraction"] == 0.2


def test_split_file_is_for_folders_only(tmp_path, capsys):
    rc = main(["prepare", "suim", "--src", str(tmp_path), "--split-file", "x.tsv"])
    assert "--split-file is for `imlib prepare folder` only" in one_error(rc, capsys.readouterr().err)


@pytest.mark.parametrize("name", ["splits.tsv", "train.txt", "trainval.txt", "train_val.txt", "fold_1.csv", "TEST.txt"])
def test_every_split_looking_file_is_noticed(name, tmp_path):
    from imlib.data.folder import provided_split_files

    (tmp_path / name).write_text("x\ttest\n")
    (tmp_path / "classes.txt").write_text("1 a\n")
    (tmp_path / "README.md").write_text("train here\n")
    assert [p.name for p in provided_split_files(tmp_path)] == [name]


def test_class_ids_taken_from_the_masks_are_said(tmp_path, capsys):
    """Without classes.txt every id becomes a class (a void id too): prepare says so and how to change it."""
    src = make_folder(tmp_path / "src", kind="multiclass")
    capsys.readouterr()
    assert main(["prepare", "folder", "--src", str(src), "--name", "x", "--size", "32",
                 "--prepared-dir", str(tmp_path / "prep")]) == 0
    out = capsys.readouterr().out
    assert "note: no classes.txt: the classes are the ids the masks hold (10, 20, 30)" in out and "ignore <id>" in out
