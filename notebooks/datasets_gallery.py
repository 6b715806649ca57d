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
# `imlib prepare` under `data/prepared/` (none in the published book, which is built without downloads; run
# this notebook after preparing yours). For each: split sizes, the share of pixels per class (or per positive
# channel), and a few labeled training images with their labels.
#
# > **GPU and Colab.** Every notebook here runs on a CPU at the `smoke` preset in minutes. For the paper's
# > scale (`preset = "paper"`), open it in Colab with a GPU runtime (*Runtime → Change runtime type → GPU*): the
# > first cell then installs the project.

# %% tags=["hide-input", "hide-output"]
import importlib.util, subprocess, sys  # noqa: E401
if importlib.util.find_spec("imlib") is None:  # Colab: install the project (in its own venv it is there)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "git+https://github.com/im-companion/inconsistency-masks"], check=True)
from imlib.colab import setup; setup()  # noqa: E702

# %% tags=["parameters"]
prepared_dir = "../data/prepared"
preset = "smoke"  # the synthetic tasks' size and counts
samples = 5

# %%
import pandas as pd
from IPython.display import display

from imlib import gallery, plots
from imlib.config import make_config
from imlib.data.registry import load_dataset

plots.style()
datasets = {name: load_dataset(make_config(preset, dataset=name, prepared_dir=prepared_dir))
            for name in gallery.available_datasets(prepared_dir)}
pd.concat([gallery.split_sizes(ds) for ds in datasets.values()]).set_index("dataset")

# %% [markdown]
# ## Classes and samples
# Percent of labeled pixels per class (multi-class) or per positive channel (binary, multi-label); the grey IM
# class 0 of multi-class tasks never occurs in a ground truth.

# %%
import matplotlib.pyplot as plt

for name, ds in datasets.items():
    display(gallery.class_frequencies(ds).T.style.format(precision=1).set_caption(f"{name}: % of pixels"))
    lab = ds.labeled
    plots.samples_figure(lab.images[:samples].cpu().numpy(), lab.labels[:samples].cpu().numpy(), ds.task, name)
    plt.show()
