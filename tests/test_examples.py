"""The tutorial's generated examples (imlib.data.examples): each kind prepares through the command line as the
"Your own data" page shows it, its traps give the one-line errors the page shows, and the fixes work."""
import json
import os

import numpy as np
import pytest
from PIL import Image

from imlib.data import examples as ex

PREPARE = "imlib prepare folder --src {src} --name {src} --size {size}"


def _manifest(work, name):
    return json.loads((work / "data" / "prepared" / name / "manifest.json").read_text())


def _error(run):
    """The one ``imlib: error:`` line of a failed run (exit code 2, nothing on stdout)."""
    assert run.code == 2 and run.out == "", run.transcript()
    assert run.err.startswith("imlib: error: ") and run.err.count("\n") == 1, run.err
    return run.err


def test_generation_is_deterministic_for_a_seed(tmp_path):
    for seed, folder in ((0, "a"), (0, "b"), (1, "c")):
        ex.lesions(tmp_path / folder / "lesions", n=3, unlabeled=1, seed=seed)
        ex.street_scenes(tmp_path / folder / "scenes", n=3, seed=seed)
        ex.cells(tmp_path / folder / "cells", n=2, seed=seed)
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*.png"))
    assert len(files) == 3 + 2 * 3 + 4 * 2

    def same(x, y):
        return all((tmp_path / x / f).read_bytes() == (tmp_path / y / f).read_bytes() for f in files)

    assert same("a", "b") and not same("a", "c")


def test_run_keeps_what_the_user_sees_and_leaves_the_working_directory_alone(tmp_path):
    ex.lesions(tmp_path / "lesions", n=12, unlabeled=0)
    cwd = os.getcwd()
    run = ex.run(tmp_path, PREPARE.format(src="lesions", size=32))
    assert os.getcwd() == cwd and run.ok, run.transcript()
    assert run.out.startswith("lesions: binary, classes ['foreground'], 32 px, split ")
    assert "-> data/prepared/lesions" in run.out and run.err == ""
    assert (tmp_path / "data" / "prepared" / "lesions" / "split" / "labeled.txt").exists()  # under the workdir
    bad = ex.run(tmp_path, "imlib prepare folder --src lesions --name lesions --kind nonsense")
    assert bad.code == 2 and "invalid choice: 'nonsense'" in bad.err  # argparse's exit, kept
    with pytest.raises(ValueError, match="starting with 'imlib'"):
        ex.run(tmp_path, "prepare folder --src lesions")


def test_transcripts_wrap_to_the_page_and_continue_the_command_line():
    run = ex.CliRun("imlib prepare folder --src scenes --name scenes --size 64 --split-file scenes/splits.tsv",
                    0, "x" * 30 + " word" * 30 + "\n\n(0 s)\n", "")
    lines = run.transcript(60).splitlines()
    assert all(len(line) <= 60 for line in lines), lines
    assert lines[0].startswith("$ imlib prepare folder") and lines[0].endswith(" \\")
    assert lines[1].startswith("    ") and "scenes/splits.tsv" in lines[1]
    assert lines[-2:] == ["", "(0 s)"] and lines[3].startswith("    word")
    assert str(run) == run.transcript()


def test_the_listing_shows_counts_sizes_and_bit_depths(tmp_path):
    ex.cells(tmp_path / "cells", n=3)
    listing = ex.tree(tmp_path / "cells").splitlines()
    assert listing[:5] == ["cells/", "  images/  3 files, 96x96 8-bit grey", "    cell_000.png ... cell_002.png",
                           "  instances/  3 files, 96x96 16-bit grey", "    cell_000.png ... cell_002.png"]
    assert "  position/  3 files, 96x96 8-bit grey" in listing
    ex.move(tmp_path, "cells/masks/*.png", "cells/masks/alive")
    arranged = ex.tree(tmp_path / "cells").splitlines()
    assert arranged[5:8] == ["  masks/", "    alive/  3 files, 96x96 8-bit grey", "      cell_000.png ... cell_002.png"]
    ex.street_scenes(tmp_path / "scenes", n=2)
    ex.write_split_file(tmp_path / "scenes", val=0, test=1)
    ex.write_classes(tmp_path / "scenes")
    assert ex.tree(tmp_path / "scenes").splitlines()[1:3] == ["  classes.txt", "  splits.tsv"]


def test_binary_lesions_traps_and_fixes(tmp_path):
    ex.lesions(tmp_path / "lesions", mask_suffix=ex.ISIC_SUFFIX, grey_masks=1)
    cmd = PREPARE.format(src="lesions", size=64)
    err = _error(ex.run(tmp_path, cmd))  # ISIC's mask names do not pair with the images
    assert "images without a mask in lesions/masks: ISIC_0000000" in err
    assert "masks without an image in lesions/images: ISIC_0000000_segmentation" in err
    assert ex.strip_mask_suffix(tmp_path / "lesions" / "masks") == 24
    err = _error(ex.run(tmp_path, cmd))  # one mask resized bilinearly: grey levels decide nothing
    assert "23 of 24 masks are binary" in err and "ISIC_0000000.png [" in err
    assert ex.binarize_masks(tmp_path / "lesions" / "masks") == ["ISIC_0000000.png"]
    run = ex.run(tmp_path, cmd)
    assert run.ok, run.transcript()
    info = _manifest(tmp_path, "lesions")
    assert info["kind"] == "binary" and info["class_names"] == ["foreground"] and info["notes"] == []
    assert info["splits"] == {"test": 5, "val": 2, "labeled": 2, "unlabeled": 15 + 4}  # + the 4 of unlabeled/
    assert "note:" not in run.out


def test_scenes_void_id_becomes_a_class_without_classes_txt_an_error_undeclared_and_ignored_declared(tmp_path):
    from imlib.config import make_config
    from imlib.data.registry import load_dataset

    ex.street_scenes(tmp_path / "scenes")
    cmd = PREPARE.format(src="scenes", size=64)
    run = ex.run(tmp_path, cmd)  # the trap without an error: void is a class, and the summary says so
    assert run.ok and "'class 11']" in run.out
    assert _manifest(tmp_path, "scenes")["class_ids"] == [0, 1, 2, 3, 4, 5, 8, 11]
    text = ex.write_classes(tmp_path / "scenes", void=False)
    assert "ignore" not in text
    err = _error(ex.run(tmp_path, cmd))
    assert "mask values outside the classes of classes.txt" in err and err.rstrip().endswith("[11]")
    assert "ignore 11" in ex.write_classes(tmp_path / "scenes")
    run = ex.run(tmp_path, cmd)
    assert run.ok, run.transcript()
    assert "note: void ids 11 (classes.txt) are ignored: neither trained on nor scored" in run.out
    info = _manifest(tmp_path, "scenes")
    assert info["class_names"] == ["IM", "sky", "building", "pole", "road", "pavement", "tree", "car"]
    assert info["class_ids"] == [0, 1, 2, 3, 4, 5, 8] and info["ignore_ids"] == [11]
    ds = load_dataset(make_config("smoke", dataset="scenes", prepared_dir=str(tmp_path / "data" / "prepared")))
    values = set(np.unique(ds.test.labels.numpy()).tolist())
    assert 255 in values and values <= set(range(1, 8)) | {255} and ds.task.metric == "miou"


def test_cells_shipped_layout_is_refused_until_arranged_then_gets_positions_and_mcce(tmp_path):
    from imlib.cell_positions import position_centroids
    from imlib.config import make_config
    from imlib.data.registry import load_dataset

    src = ex.cells(tmp_path / "cells")
    with Image.open(src / "instances" / "cell_000.png") as im:
        ids = np.asarray(im)
        assert im.mode == "I;16"
    assert ids[ids > 0].min() >= 1000 and ids.max() > 255  # really 16-bit ids
    cmd = PREPARE.format(src="cells", size=96)
    err = _error(ex.run(tmp_path, cmd))
    assert "folder(s) position/ are not read" in err and "masks/alive/" in err
    assert ex.move(tmp_path, "cells/position", "cells-position") == "mv cells/position cells-position"
    err = _error(ex.run(tmp_path, cmd))
    assert "cells/instances: instance maps give the cell positions" in err and "masks/alive/" in err
    assert ex.move(tmp_path, "cells/masks/*.png", "cells/masks/alive") == \
        "mkdir -p cells/masks/alive && mv cells/masks/*.png cells/masks/alive/"
    run = ex.run(tmp_path, cmd)
    assert run.ok, run.transcript()
    n_cells = sum(len(np.unique(np.asarray(Image.open(p)))) - 1 for p in sorted((src / "instances").glob("*.png")))
    info = _manifest(tmp_path, "cells")
    assert info["kind"] == "multilabel" and info["class_names"] == ["alive", "position", "dead"]
    assert info["notes"][0].startswith(f"positions from instances/: a disc at each of {n_cells} cells")
    assert "all-zero dead channel" in info["notes"][1] and "warning" not in " ".join(info["notes"])
    assert run.out.count("\nnote: ") == 2
    ds = load_dataset(make_config("smoke", dataset="cells", prepared_dir=str(tmp_path / "data" / "prepared")))
    assert ds.task.metric == "mcce" and int(ds.test.labels[:, 2].sum()) == 0
    stems = (tmp_path / "data" / "prepared" / "cells" / "split" / "test.txt").read_text().split()
    for stem, pos in zip(stems, ds.test.labels[:, ds.task.position_channel].numpy()):
        cells = len(np.unique(np.asarray(Image.open(src / "instances" / f"{stem}.png")))) - 1
        assert len(position_centroids(pos)) == cells  # every cell a disc the cell count finds
    small = ex.run(tmp_path, "imlib prepare folder --src cells --name small --size 32")
    assert small.ok and "neighbouring discs merge" in small.out


def test_a_split_file_in_the_source_is_an_error_until_named_then_decides_the_split(tmp_path):
    ex.street_scenes(tmp_path / "scenes")
    ex.write_classes(tmp_path / "scenes")
    path = ex.write_split_file(tmp_path / "scenes", val=4, test=6)
    rows = [line.split("\t") for line in path.read_text().splitlines()]
    assert rows[0] == ["image", "split"] and len(rows) == 25
    parts = [part for _, part in rows[1:]]
    assert (parts.count("train"), parts.count("val"), parts.count("test")) == (14, 4, 6)
    cmd = PREPARE.format(src="scenes", size=64)
    err = _error(ex.run(tmp_path, cmd))
    assert "scenes/splits.tsv: looks like a split this dataset ships" in err
    assert "--split-file scenes/splits.tsv" in err and "--split-file seeded" in err
    run = ex.run(tmp_path, cmd + " --split-file scenes/splits.tsv")
    assert run.ok, run.transcript()
    assert "note: split from splits.tsv: labeled 1, unlabeled 13, val 4, test 6" in run.out
    info = _manifest(tmp_path, "scenes")
    assert info["splits"] == {"labeled": 1, "unlabeled": 13, "val": 4, "test": 6}
    kept = tmp_path / "data" / "prepared" / "scenes" / "split"
    test = {r[0].split("/")[1][:-4] for r in rows[1:] if r[1] == "test"}
    assert set((kept / "test.txt").read_text().split()) == test


def test_the_figure_names_the_ignored_colour_when_void_pixels_are_shown(tmp_path):
    import matplotlib.pyplot as plt

    from imlib import plots

    ex.street_scenes(tmp_path / "scenes")
    ex.write_classes(tmp_path / "scenes")
    assert ex.run(tmp_path, PREPARE.format(src="scenes", size=64)).ok
    fig = ex.sample_figure(tmp_path / "data" / "prepared", "scenes", n=3)
    labels = plots.legend_labels(fig)
    assert labels[-1] == "ignored (void)" and "1 sky" in labels and len(fig.legends) == 1
    assert plots.legibility_problems(fig) == []
    plt.close(fig)
