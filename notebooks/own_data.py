# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Your own data, step by step
#
# `imlib prepare folder` turns a folder of your own images and masks into a dataset every method of this book
# trains on. This page walks through the three kinds of task people bring to it, on small **generated**
# examples in the layouts real datasets ship, and shows what you see on the way: the summary line, the `note:`
# lines that say what was decided for you, and the one-line errors of the common traps, each followed by its fix.
#
# ```{note}
# **GPU and Colab.** Nothing is trained here: the page generates three tiny example folders (24 images each) and
# prepares them, in well under a minute on a CPU. A GPU changes nothing. Everything is written to a temporary
# folder that is deleted at the end, never into the project's `data/`.
# ```
#
# ```{warning}
# The examples are made up (`imlib.data.examples`): a dermoscopy-like lesion task, a street-scene-like task with
# CamVid's void id 11, and phase-contrast-like cells with 16-bit instance maps. They imitate the layouts and
# traps of real datasets, not their content, and no number on this page is a result.
# ```
#
# ## Overview
#
# - **Binary** (lesions): masks that do not pair with their images, and a mask with grey levels;
# - **Multi-class with a void id** (street scenes): void silently becoming a class, and declaring it with
#   `ignore 11` in `classes.txt`;
# - **Cells with instance maps** (16-bit ids): a `position/` folder that is not read, arranging `masks/alive/`,
#   and the positions drawn from the instances with the paper's disc rule;
# - **A split the dataset ships**: `--split-file splits.tsv`, and the error when a split file is not named.
#
# ## Prerequisites
#
# - **Concepts**: [Datasets](../book/datasets.md), section *Your own data: the folder format* (the layout, how
#   the task kind and the split are decided)
# - **Install**: `make install` in a clone (the commands are `.venv/bin/imlib ...`), or the first cell in Colab
# - **Time to run**: about 15 s on one CPU core (generating and preparing 3 × 24 small images); no GPU needed

# %% tags=["hide-output"]
# Colab, or any Python without imlib: install imlib at this notebook's release
# (elsewhere nothing is installed), then print the release, commit and device.
import importlib.util, os, subprocess, sys  # noqa: E401
IMLIB_REF = "v0.2.0"
REPOSITORY = "https://github.com/im-companion/inconsistency-masks"
if importlib.util.find_spec("imlib") is None:
    home = "/content" if os.path.isdir("/content") else os.path.expanduser("~")
    clone = os.environ.get("IMLIB_CLONE", home + "/inconsistency-masks")
    if not os.path.isdir(clone):
        subprocess.run(["git", "clone", "-q", "--depth=1", "-b", IMLIB_REF,
                        os.environ.get("IMLIB_REPOSITORY", REPOSITORY), clone],
                       check=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-e",
                    clone + "[colab]"], check=True, env={**os.environ,
                   "PYTHONWARNINGS": "ignore:Editable installation"})
    sys.path.insert(0, clone)  # importable now; after a restart through pip
from imlib.colab import setup; setup(IMLIB_REF)  # noqa: E702

# %% tags=["parameters"]
seed = 0  # the generated examples
workdir = ""  # "": a temporary folder, deleted at the end; else yours (kept)

# %%
import json
import shutil
import tempfile
from pathlib import Path

from imlib import plots
from imlib.config import make_config
from imlib.data import examples
from imlib.data.registry import load_dataset

plots.use_book_style()
work = Path(workdir or tempfile.mkdtemp(prefix="imlib-own-data-"))
work.mkdir(parents=True, exist_ok=True)
prepared = work / "data" / "prepared"  # what `imlib prepare` writes

# %% [markdown]
# Each box that starts with `$` below is a command as you would type it in a shell, in the folder that holds
# the example (`--src lesions` is the folder `lesions/` there), followed by exactly what `imlib` printed. The
# commands run in-process (`examples.run`, the same `main` as the `imlib` program); long lines are wrapped for
# the page. The prepared datasets go where they would go for you: `data/prepared/<name>/` of that folder.
#
# ## 1. Binary: dermoscopy-like lesions
#
# ISIC's archives name each mask after its image with a suffix: `ISIC_0000000.jpg` and
# `ISIC_0000000_segmentation.png`. Our example ships like that, with 4 more images without masks in
# `unlabeled/`, and one mask that was resized with bilinear interpolation somewhere on its way.

# %%
examples.lesions(work / "lesions", seed=seed,
                 mask_suffix=examples.ISIC_SUFFIX, grey_masks=1)
print(examples.tree(work / "lesions"))

# %% tags=["remove-input"]
examples.run(work, "imlib prepare folder --src lesions --name lesions --size 64")

# %% [markdown]
# Images and masks are paired by their file stem, so none pairs. **Fix**: rename the masks; in a shell
#
# ```bash
# for f in lesions/masks/*_segmentation.png; do
#     mv "$f" "${f%_segmentation.png}.png"
# done
# ```
#
# or, as here, in Python:

# %%
renamed = examples.strip_mask_suffix(work / "lesions" / "masks")
print(f"{renamed} masks renamed")

# %% tags=["remove-input"]
examples.run(work, "imlib prepare folder --src lesions --name lesions --size 64")

# %% [markdown]
# A binary mask holds 0/255 (or 0/1). The grey levels along one mask's border make the task kind ambiguous, so
# `prepare` stops and names the mask and its values instead of guessing. **Fix**: export that mask again
# without interpolation, or threshold it at 128 and save it as PNG (here: `examples.binarize_masks`). Were the
# values class ids, `--kind multiclass` would say so.

# %%
fixed = examples.binarize_masks(work / "lesions" / "masks")
print("re-saved as 0/255:", *fixed)

# %% tags=["remove-input"]
examples.run(work, "imlib prepare folder --src lesions --name lesions --size 64")

# %% [markdown]
# The summary line says what was made: a **binary** task (inferred from the 0/255 masks), the one class
# `foreground`, 64 px, and the seeded split (`--seed 42`): 5 test and 2 validation images, 2 labeled (10 % of
# the rest) and 19 unlabeled (15 of `images/` whose masks are set aside, and the 4 of `unlabeled/`).

# %% mystnb={"figure": {"caption": "The prepared lesion example: images (top) and their masks as prepared (bottom; lesion white). Generated example, seed 0, 64 \u00d7 64 pixels; the first labeled, then validation images.", "name": "fig-own-lesions"}, "image": {"alt": "Four skin-coloured images with one brown lesion each, above their binary masks: the lesion in white on black."}}
examples.sample_figure(prepared, "lesions");

# %% [markdown]
# ## 2. Multi-class with a void id: street scenes
#
# CamVid-like masks hold one class id per pixel, and id **11 for "void"**: pixels nobody labeled (here a
# ring around each car, and an object on the pavement). The ids present are 0 sky, 1 building, 2 pole,
# 3 road, 4 pavement, 5 tree, 8 car and 11 void.

# %%
examples.street_scenes(work / "scenes", seed=seed)
print(examples.tree(work / "scenes"))

# %% tags=["remove-input"]
examples.run(work, "imlib prepare folder --src scenes --name scenes --size 64")

# %% [markdown]
# ```{warning}
# This run **succeeds**, and that is the trap: without a `classes.txt` the palette is whatever ids the masks
# hold, so void became `class 11`, a class every model would be trained on and scored by. The `note:` line
# says so; read it, and the summary's class list, before you train.
# ```
#
# **Fix**: a `classes.txt` beside `images/` that names the classes. Written without a line for void first:

# %%
print(examples.write_classes(work / "scenes", void=False))

# %% tags=["remove-input"]
examples.run(work, "imlib prepare folder --src scenes --name scenes --size 64")

# %% [markdown]
# With a `classes.txt`, a mask value it does not list is an error naming the file and the value. **Fix**:
# declare void with a line `ignore 11` (several ids: `ignore 11 12`):

# %%
print(examples.write_classes(work / "scenes"))

# %% tags=["remove-input"]
examples.run(work, "imlib prepare folder --src scenes --name scenes --size 64")

# %% [markdown]
# Now the classes have their names, void is not among them, and a `note:` line says what happens to its pixels:
# they are stored as 255, "ignore", neither trained on nor scored. The class ids are mapped to 1..7 in sorted
# order (class 0 stays the IM class of the method), and the manifest keeps both:

# %%
manifest = json.loads((prepared / "scenes" / "manifest.json").read_text())
for key in ("class_names", "class_ids", "ignore_ids"):
    print(f"{key}: {manifest[key]}")

# %% mystnb={"figure": {"caption": "The prepared street-scene example: images (top) and their class maps as prepared (bottom). The key gives the prepared class index (source ids 0, 1, 2, 3, 4, 5, 8 become 1 to 7; 0 is the IM class); void (id 11) is ignored, grey. Generated example, seed 0, 64 \u00d7 64 pixels.", "name": "fig-own-scenes"}, "image": {"alt": "Four street-like images with sky, buildings, trees, a pole, a road and cars, above their class maps in the key's colours; a grey ring around each car and a small grey square on the pavement are the ignored void pixels."}}
examples.sample_figure(prepared, "scenes");

# %% [markdown]
# ## 3. Cells with 16-bit instance maps
#
# Microscopy tools export cells as **instance maps**: one id per cell (here from 1000 up, so the PNGs are
# 16-bit), 0 for background. Our phase-contrast-like example ships as such datasets do: a flat `masks/` of all
# cells, a `position/` folder of small discs at the cell centres, and `instances/`.

# %%
examples.cells(work / "cells", seed=seed)
print(examples.tree(work / "cells"))

# %% tags=["remove-input"]
examples.run(work, "imlib prepare folder --src cells --name cells --size 96")

# %% [markdown]
# A folder `prepare` does not read is never passed over silently (it would otherwise build a binary task from
# `masks/` alone). The instance maps give the positions, so **fix**: move `position/` out of the source
# (the cell below does what the `mv` it prints does):

# %%
print(examples.move(work, "cells/position", "cells-position"))

# %% tags=["remove-input"]
examples.run(work, "imlib prepare folder --src cells --name cells --size 96")

# %% [markdown]
# Instance maps belong to a cell-count task, whose masks are one folder per channel. **Fix**: the cell masks
# are the `alive` channel:

# %%
print(examples.move(work, "cells/masks/*.png", "cells/masks/alive"))

# %% tags=["remove-input"]
examples.run(work, "imlib prepare folder --src cells --name cells --size 96")

# %% [markdown]
# Two `note:` lines say what was decided for you. The **position** channel is drawn from the instance maps with
# the paper's rule: a disc at each cell's centroid, radius clamp(⌊d_min / 4⌋, 3, 8) px with d_min the distance to
# the nearest other centroid, drawn at the prepared size so that no disc is too small for the cell count. Without
# `masks/dead/` every cell is alive: an all-zero **dead** channel is added, so the task keeps HeLa's
# alive/dead/position channels and its cell-count error (MCCE) as the metric, which the loaded dataset confirms:

# %%
task = load_dataset(make_config("smoke", dataset="cells",
                                prepared_dir=str(prepared))).task
print(f"kind {task.kind}, channels {', '.join(task.class_names)}, "
      f"metric {task.metric}")

# %% mystnb={"figure": {"caption": "The prepared cell example: images (top) and their channels as prepared (bottom): alive red, position green, where a position disc lies in a cell the colours add (yellow); the dead channel is empty. Generated example, seed 0, 96 \u00d7 96 pixels.", "name": "fig-own-cells"}, "image": {"alt": "Four grey images with dark oval cells ringed by a bright halo, above their labels: each cell red with a yellow disc at its centre."}}
examples.sample_figure(prepared, "cells");

# %% [markdown]
# Prepared too small, neighbouring discs merge and the cell count would miss cells; `prepare` warns in the
# first `note:` line (here at 32 px, a third of the images' size):

# %% tags=["remove-input"]
examples.run(work, "imlib prepare folder --src cells --name cells-32 --size 32")

# %% [markdown]
# ## A split the dataset ships
#
# Many datasets come with their own train/validation/test lists. Our street scenes now get one, a `splits.tsv`
# in the source folder, one `<image> <part>` a line (parts `train`, `labeled`, `unlabeled`, `val`, `test`):

# %%
split_file = examples.write_split_file(work / "scenes", val=4, test=6,
                                       seed=seed)
print(*split_file.read_text().splitlines()[:5], "...", sep="\n")

# %% tags=["remove-input"]
examples.run(work, "imlib prepare folder --src scenes --name scenes --size 64")

# %% [markdown]
# A file that looks like a split is never passed over: `prepare` asks which split you mean. **Fix**: name it
# (or say `--split-file seeded` to draw a seeded split anyway):

# %% tags=["remove-input"]
examples.run(work, "imlib prepare folder --src scenes --name scenes --size 64 --split-file scenes/splits.tsv")

# %% [markdown]
# The file's 6 test and 4 validation images are kept as listed; its 14 `train` images are split into labeled
# and unlabeled by `--labeled-fraction` (10 %, seeded: 1 labeled, 13 unlabeled). The lists are written inside
# the prepared dataset (`data/prepared/scenes/split/`), never into this project's `data/splits/`.
#
# ## Train on it
#
# Prepared in your project folder, a dataset is trained by its `--name` (not run here):
#
# ```bash
# .venv/bin/imlib prepare folder --src my-data --name mine
# .venv/bin/imlib train --dataset mine --method ldt --preset smoke
# .venv/bin/imlib train --dataset mine --method im --preset paper   # on a GPU
# ```

# %% tags=["remove-cell"]
if not workdir:
    shutil.rmtree(work)

# %% [markdown]
# ## Summary
#
# - `imlib prepare folder` infers the task kind from the layout and the masks, and prints it with the classes,
#   size and split; read that line: an undeclared void id is a class there.
# - Problems stop the preparation with one line naming the file and what to do: unpaired files, grey levels in
#   binary masks, values a `classes.txt` does not list, folders it does not read, a split file not named.
# - Decisions made for you are `note:` lines (kept in the manifest): void ids ignored, positions drawn from
#   instance maps, an all-zero dead channel added, the split taken from your file, discs merging at a small size.
#
# ## What's next
#
# - [Datasets](../book/datasets.md): every rule of the folder format, and the paper's datasets.
# - [Dataset gallery](datasets_gallery): your prepared datasets appear there, with class shares and samples.
# - [Train one run](train): train a method on your dataset.
