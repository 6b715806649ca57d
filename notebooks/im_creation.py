# ---
# jupyter:
#   accelerator: GPU
#   colab:
#     gpuType: T4
#     provenance: []
#   jupytext:
#     formats: ipynb,py:percent
#     notebook_metadata_filter: accelerator,colab
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
# Two teachers predict the same unlabeled image. Where they disagree, the pixel goes into the
# *inconsistency mask* (IM); the student never learns from it. Where they agree, their common answer becomes
# the pseudo-label. This page trains the teachers itself, on the labeled 10 % of a synthetic task, and draws
# the paper's figure *IM_creation* from them, then the same step for a multi-class and a multi-label task.
#
# ```{note}
# **GPU and Colab.** This page trains 2 small U-Nets for each of the three synthetic tasks (6 in all) at the
# `smoke` preset: about 1.5 minutes on 2 CPU cores, a few seconds on a GPU. A GPU changes only the time: the
# figures come out alike. When `make reproduce` has trained the LDT models of seed 0 (in `data/work`), they are
# reused instead of trained.
# ```
#
# ```{warning}
# The teachers are trained for a code check (`smoke`: tiny images, few epochs) on synthetic stand-ins, not on
# the paper's data. The figures show *how* a mask is made; how large it is and where it falls says nothing about
# the paper's models.
# ```
#
# ## Overview
#
# - the binary case step by step: each teacher thresholded, their sum, the mask where the sum is 1, the
#   pseudo-label where it is 2 (the paper's figure);
# - what the student trains on: the pseudo-label and the input with the masked pixels blacked out;
# - the same for several classes (a reserved IM class) and for several channels (HeLa's alive, dead, position).
#
# ## Prerequisites
#
# - **Concepts**: [the method](../book/method.md): teachers, students, generations
# - **Data**: none to download: the synthetic stand-ins are generated on the fly
# - **Time to run**: about 1.5 min on 2 CPU cores (`smoke`), seconds on a GPU; reused teachers: seconds

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
work_dir = "data/work"  # project-relative: trained models (reused when present)
seed = 0

# %% [markdown]
# ## Binary: two teachers, one mask
#
# The teachers are the two best of the LDT models (*labeled data training*: trained on the labeled images
# only) of the lesion stand-in. The example image is one where they agree on some lesion and disagree on a
# typical share of pixels (neither the easiest nor a degenerate case).

# %%
from imlib import plots, showcase

plots.use_book_style()
run, teachers, ex = showcase.worked_example("synthetic-lesion", seed, work_dir)
print(showcase.teachers_line(run, teachers))

# %% mystnb={"figure": {"caption": "Creating an inconsistency mask for a binary task (after the paper's figure IM_creation). Both teachers' probabilities are thresholded at 0.5 (a, b) and summed (c): the mask is where the sum is 1 (d), the pseudo-label where it is 2 (e). Teachers: 2 LDT U-Nets, smoke preset, synthetic lesion stand-in, seed 0.", "name": "fig-im-creation"}, "image": {"alt": "Six panels: a lesion image; the two teachers' thresholded masks; their sum with disagreement in orange; the orange inconsistency mask alone; and the pseudo-label where both teachers agree."}}
a, b = ex.teacher_labels
plots.im_creation_figure(a[0], b[0], image=ex.image);

# %% [markdown]
# The student does not train on the image as it is: the masked pixels are blacked out in the input and set
# to background in the label (`blackout`, the paper's choice), so that it learns neither from the teachers'
# disagreement nor from the image content the teachers could not agree on ({numref}`fig-im-pair-binary`).

# %% mystnb={"figure": {"caption": "What the student gets for the image of the figure above: the mask (orange), the pseudo-label and the input with the mask blacked out, beside the hidden ground truth (never used in training). Smoke preset, synthetic lesion stand-in, seed 0.", "name": "fig-im-pair-binary"}, "image": {"alt": "Top row: the input image and the two teachers' predictions. Bottom row: the orange inconsistency mask, the pseudo-label, the input with the masked pixels black, and the ground truth."}}
plots.im_pair_figure(ex.image, ex.teacher_labels, ex.label, ex.mask, ex.blacked,
                     run.task, truth=ex.truth);

# %% [markdown]
# ## Multi-class (SUIM-like scenes)
#
# Each teacher predicts one class per pixel (its argmax). Where the two differ, the pixel is masked and the
# pseudo-label gets the reserved IM class 0 (light grey); elsewhere it takes the class both predicted.

# %%
run_mc, teachers_mc, ex_mc = showcase.worked_example(
    "synthetic-scenes", seed, work_dir)
print(showcase.teachers_line(run_mc, teachers_mc))

# %% mystnb={"figure": {"caption": "IM for a multi-class task: pixels where the teachers' classes differ form the mask and get the IM class 0 (light grey) in the pseudo-label. Colours: the paper's SUIM palette. Smoke preset, synthetic scenes stand-in, seed 0.", "name": "fig-im-pair-multiclass"}, "image": {"alt": "Top row: an underwater scene and two teachers' class maps. Bottom row: the orange mask, the pseudo-label with masked pixels in light grey, the scene with masked pixels black, and the ground truth; a colour key lists the nine classes."}}
plots.im_pair_figure(ex_mc.image, ex_mc.teacher_labels, ex_mc.label, ex_mc.mask,
                     ex_mc.blacked, run_mc.task, truth=ex_mc.truth);

# %% [markdown]
# ## Multi-label (HeLa-like cells)
#
# Alive (red), dead (green) and position (blue) are thresholded per channel, so a pixel can carry several
# (position discs inside cells show as magenta or cyan). The mask is the union of the channels' disagreements,
# and the position channel of the pseudo-label is redrawn as discs of radius clamp(⌊d_min / 4⌋, 3, 8) at the
# centroids of the blobs both teachers found.

# %%
run_ml, teachers_ml, ex_ml = showcase.worked_example(
    "synthetic-cells", seed, work_dir)
print(showcase.teachers_line(run_ml, teachers_ml))

# %% mystnb={"figure": {"caption": "IM for a multi-label task: each channel (alive, dead, position) is thresholded on its own; a disagreement in any channel masks the pixel. Overlapping channels add their colours. Smoke preset, synthetic cells stand-in, seed 0.", "name": "fig-im-pair-multilabel"}, "image": {"alt": "Top row: a grey microscopy-like image and two teachers' channel maps. Bottom row: the orange mask, the pseudo-label with position discs, the image with masked pixels black, and the ground truth; a colour key names the alive, dead and position channels."}}
plots.im_pair_figure(ex_ml.image, ex_ml.teacher_labels, ex_ml.label, ex_ml.mask,
                     ex_ml.blacked, run_ml.task, truth=ex_ml.truth);

# %% [markdown]
# ## Summary
#
# - An inconsistency mask is where the teachers disagree: the sum of their binary predictions is 1, their
#   classes differ, or any channel differs. It needs no confidence threshold beyond each teacher's own 0.5.
# - The student trains on the teachers' agreement only: masked pixels are blacked out in its input and are
#   background (binary, multi-label) or the IM class (multi-class) in its label.
# - The teachers here are smoke-scale models on synthetic stand-ins, trained (or reused) by this page: the
#   pictures illustrate the step, they are not the paper's models.
#
# ## What's next
#
# - [IM over generations](generations): how the mask and the pseudo-labels change as students become teachers.
# - [Study B](study_b): what IM gains against the other methods, over seeds.
# - [Train one run](train): train IM yourself, on a stand-in or on your own data.
