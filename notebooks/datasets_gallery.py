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
# # Dataset gallery
#
# Every dataset this checkout can train on: the three synthetic stand-ins, and every dataset prepared with
# `imlib prepare` under `data/prepared/`. For each: the split sizes, the share of pixels per class (or per
# positive channel) and a few labeled training images with their labels.
#
# ```{note}
# **GPU and Colab.** Nothing is trained here: the page generates the synthetic stand-ins (or reads the prepared
# datasets) and draws them, in about 2 minutes of CPU time. A GPU changes nothing. In Colab, prepare a real
# dataset first (see [Datasets](../book/datasets.md)); it then appears at the end of this page.
# ```
#
# ```{warning}
# The published book is built without downloads, so it shows only the synthetic stand-ins: made-up images
# that imitate the kind of task of the paper's datasets (a lesion, cells, an underwater scene), at 48 × 48
# pixels for the `smoke` preset. They are not the paper's data.
# ```
#
# ## Overview
#
# - which datasets are available, and how many images each split holds;
# - per dataset: the share of labeled pixels per class or channel, and sample images with their labels.
#
# ## Prerequisites
#
# - **Concepts**: [Datasets](../book/datasets.md): the stand-ins and the paper's datasets
# - **Data**: none for the stand-ins; real datasets: `imlib download` and `imlib prepare` first
# - **Time to run**: about 2 minutes of CPU time (`smoke`), mostly generating the stand-ins

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
prepared_dir = "data/prepared"  # project-relative: `imlib prepare` writes here
preset = "smoke"  # the synthetic tasks' image size and counts
samples = 5

# %%
import pandas as pd

from imlib import gallery, plots, tables
from imlib.config import make_config
from imlib.data.registry import SYNTHETIC_TASKS, load_dataset
from imlib.paths import project_path

plots.use_book_style()
prepared = project_path(prepared_dir)
datasets = {
    name: load_dataset(
        make_config(preset, dataset=name, prepared_dir=str(prepared)))
    for name in gallery.available_datasets(prepared)
}
sizes = pd.concat([gallery.split_sizes(ds) for ds in datasets.values()])
tables.styled(sizes.set_index("dataset").rename_axis(None), precision=1,
              caption=f"Images per split ({preset} preset for the stand-ins)")

# %% [markdown]
# ## Lesions (binary)
#
# One foreground class, the lesion, on skin-like texture: the stand-in for ISIC 2018.

# %%
lesion = datasets["synthetic-lesion"]
gallery.class_table(lesion)

# %% mystnb={"figure": {"caption": "Labeled training images of the lesion stand-in (top) and their labels (bottom; lesion white). Synthetic, smoke preset (48 \u00d7 48 pixels).", "name": "fig-gallery-lesion"}, "image": {"alt": "Five small skin-like images with a dark lesion each, above their binary masks: lesion in white on black."}}
plots.samples_figure(*gallery.samples(lesion, samples), lesion.task);

# %% [markdown]
# ## Cells (multi-label)
#
# Three channels per pixel, as in HeLa: alive cells, dead cells, and the cell positions (discs at the cell
# centres, drawn over the cell they mark). A pixel can be positive in several channels, so the labels are drawn
# as RGB with the channels adding up.

# %%
cells = datasets["synthetic-cells"]
gallery.class_table(cells)

# %% mystnb={"figure": {"caption": "Labeled training images of the cells stand-in (top) and their labels (bottom): alive red, dead green, position blue; where a position disc lies in a cell the colours add (magenta, cyan). Synthetic, smoke preset (48 \u00d7 48 pixels).", "name": "fig-gallery-cells"}, "image": {"alt": "Five grey microscopy-like images with round cells, above their labels: cells in red or green with blue-tinted discs at their centres."}}
plots.samples_figure(*gallery.samples(cells, samples), cells.task);

# %% [markdown]
# ## Scenes (multi-class)
#
# Nine classes per pixel in the SUIM palette of the paper. Class 0 is reserved for IM (the pseudo-label of a
# masked pixel), so it never occurs in a ground truth.

# %%
scenes = datasets["synthetic-scenes"]
gallery.class_table(scenes)

# %% mystnb={"figure": {"caption": "Labeled training images of the scenes stand-in (top) and their labels (bottom) in the paper's SUIM colours. Synthetic, smoke preset (48 \u00d7 48 pixels).", "name": "fig-gallery-scenes"}, "image": {"alt": "Five small underwater scenes with fish, plants, a wreck or a diver, above their class maps; a colour key names the nine classes."}}
plots.samples_figure(*gallery.samples(scenes, samples), scenes.task);

# %% [markdown]
# ## Prepared datasets
#
# Every dataset under `data/prepared/` follows here, with its table and samples.

# %% mystnb={"image": {"alt": "Labeled training images of a prepared dataset above their labels, with a colour key."}}
import matplotlib.pyplot as plt
from IPython.display import display

real = [name for name in datasets if name not in SYNTHETIC_TASKS]
if not real:
    print(f"no prepared dataset under {prepared_dir}/ (see `imlib prepare --help`)")
for name in real:
    display(gallery.class_table(datasets[name]))
    ds = datasets[name]
    plots.samples_figure(*gallery.samples(ds, samples), ds.task, title=name)
    plt.show()

# %% [markdown]
# ## Summary
#
# - The stand-ins match the paper's tasks in kind (one binary, one multi-label, one multi-class task), not in
#   content or size: at `smoke`, 32 labeled and 288 unlabeled training images of 48 × 48 pixels each.
# - Class shares are uneven (water and floor dominate the scenes): the paper's multi-class metric, mIoU, weighs
#   every class alike.
# - A real dataset appears here once prepared; nothing on this page depends on a GPU.
#
# ## What's next
#
# - [Datasets](../book/datasets.md): where the paper's datasets come from and how to prepare them.
# - [Creating an inconsistency mask](im_creation): teachers trained on these stand-ins.
# - [Train one run](train): train on any dataset listed here.
