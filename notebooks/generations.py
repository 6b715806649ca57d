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
# # IM over generations
#
# The paper's figure *IM_over_5_Generations*: one unlabeled image, the input with the mask blacked out, the
# mask and the pseudo-label of every generation, next to the ground truth. Each generation's teachers are the
# previous generation's best students; in the paper the mask shrinks as they get better. The material comes
# from a committed run record (`data/results`), which stores masks and pseudo-labels of a few fixed images for
# every generation. At the `smoke` scale (tiny synthetic images, two generations of briefly trained students)
# the mask need not shrink, and for a given image it often does not: read the figure as a picture of what IM
# feeds its students, not as evidence of the paper's trend.
#
# > **GPU and Colab.** Every notebook here runs on a CPU at the `smoke` preset in minutes. For the paper's
# > scale (`preset = "paper"`), open it in Colab with a GPU runtime (*Runtime → Change runtime type → GPU*): the
# > first cell then installs the project.

# %% tags=["hide-input", "hide-output"]
# Installs the project when it is missing (e.g. on Colab); inside the project's own venv this does nothing.
import importlib.util
import os
import subprocess
import sys

REPOSITORY = "https://github.com/im-companion/inconsistency-masks"
if importlib.util.find_spec("imlib") is None:
    subprocess.run(["git", "clone", "--depth", "1", REPOSITORY, "im-companion"], check=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-e", "im-companion"], check=True)
    sys.path.insert(0, os.path.abspath("im-companion"))
    os.chdir("im-companion/notebooks")

# %% tags=["parameters"]
results_dir = "../data/results"
dataset = "synthetic-scenes"
method = "im"
preset = "smoke"
seed = 0
image = 0  # which showcase image (0, 1 or 2)

# %%
from imlib import plots, results, showcase
from imlib.config import RunConfig
from imlib.data.registry import load_dataset

plots.style()
record = results.read_record(results.record_path(results_dir, f"study_b/{dataset}/{method}/{preset}-seed{seed}"))
masks, labels = showcase.generation_showcase(record, image)
ds = load_dataset(RunConfig(**record["config"]))
index = record["generations"][1]["pseudo_labels"]["showcase"]["unlabeled_index"][image]
x, truth = ds.unlabeled.images[index].numpy(), ds.unlabeled.labels[index].numpy()
plots.generations_figure(x, truth, masks, labels, ds.task);

# %%
print(f"run {record['run_id']} · preset {preset} · dataset {dataset} (synthetic stand-in) · "
      f"commit {record['environment']['git_commit'][:12]} · device {record['environment']['device']['type']}")
for g in record["generations"][1:]:
    p = g["pseudo_labels"]
    print(f"generation {g['generation']}: mask covers {100 * p['mask_fraction']:.1f} % of the unlabeled pixels, "
          f"pseudo-labels outside it agree with the hidden truth on {100 * p['pseudo_label_accuracy']:.1f} %")
