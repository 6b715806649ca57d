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
# # Creating an Inconsistency Mask
#
# Two teachers, trained here from scratch on the labeled 10 % of a synthetic task (the `smoke` preset; the
# LDT models of `make reproduce` are reused when present), predict the same unlabeled image. Thresholded, their
# predictions are summed: where the sum is 1 they disagree (the mask), where it is 2 they agree on foreground
# (the pseudo-label). This regenerates the paper's figure *IM_creation* with models trained in this notebook.
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
work_dir = "../data/work"
seed = 0

# %%
from imlib import plots, showcase

plots.style()
run, teachers = showcase.teachers("synthetic-lesion", n=2, seed=seed, work_dir=work_dir)
index = showcase.typical_example(run, teachers)
ex = showcase.im_example(run, teachers, index)
plots.im_creation_figure(ex.teacher_labels[0][0], ex.teacher_labels[1][0], image=ex.image);

# %% [markdown]
# The student does not train on the image as it is: the masked pixels are blacked out in the input and set
# to background in the label (`blackout`, the paper's choice), so that it learns neither from the teachers'
# disagreement nor from the image content the teachers could not agree on.

# %%
plots.im_pair_figure(ex.image, ex.teacher_labels, ex.label, ex.mask, ex.blacked, run.task, truth=ex.truth);

# %% [markdown]
# ## Multi-class (SUIM-like scenes)
# Each teacher's argmax; where any two differ, the pixel is masked and the pseudo-label gets the reserved IM
# class 0 (grey).

# %%
run_mc, teachers_mc = showcase.teachers("synthetic-scenes", n=2, seed=seed, work_dir=work_dir)
ex = showcase.im_example(run_mc, teachers_mc, showcase.typical_example(run_mc, teachers_mc))
plots.im_pair_figure(ex.image, ex.teacher_labels, ex.label, ex.mask, ex.blacked, run_mc.task, truth=ex.truth);

# %% [markdown]
# ## Multi-label (HeLa-like cells)
# Alive (red), dead (green) and position (blue) are thresholded per channel; the mask is the union of the
# channels' disagreements, and the position channel of the pseudo-label is redrawn as discs of radius
# clamp(⌊d_min / 4⌋, 3, 8) at the centroids of the unanimous blobs.

# %%
run_ml, teachers_ml = showcase.teachers("synthetic-cells", n=2, seed=seed, work_dir=work_dir)
ex = showcase.im_example(run_ml, teachers_ml, showcase.typical_example(run_ml, teachers_ml))
plots.im_pair_figure(ex.image, ex.teacher_labels, ex.label, ex.mask, ex.blacked, run_ml.task, truth=ex.truth);
