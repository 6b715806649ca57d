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
import importlib.util, subprocess, sys  # noqa: E401
if importlib.util.find_spec("imlib") is None:  # Colab: install the project (in its own venv it is there)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "git+https://github.com/im-companion/inconsistency-masks"], check=True)
from imlib.colab import setup; setup()  # noqa: E702

# %% tags=["parameters"]
results_dir = "../data/results"
dataset = "synthetic-scenes"
method = "im"
preset = "smoke"
seed = 0
image = 0  # which showcase image (0, 1 or 2)

# %%
from imlib import plots, records, showcase
from imlib.config import run_id

plots.style()
record = records.load(records.record_path(results_dir, run_id("b", dataset, method, preset, seed)))
shown = showcase.generation_showcase(record, image)
plots.generations_figure(shown.image, shown.truth, shown.masks, shown.labels, shown.task);

# %%
print(f"run {record.run_id} · preset {preset} · dataset {dataset} ({record.dataset.description}) · "
      f"commit {record.environment.git_commit[:12]} · device {record.environment.device}")
for g in record.generations[1:]:
    p = g.pseudo_labels
    print(f"generation {g.generation}: mask covers {100 * p.mask_fraction:.1f} % of the unlabeled pixels, "
          f"pseudo-labels outside it agree with the hidden truth on {100 * p.pseudo_label_accuracy:.1f} %")
