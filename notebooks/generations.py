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
# IM trains in generations: the best students of one generation become the teachers of the next, which
# label the unlabeled images again, with a new mask. This page shows, for one unlabeled image, the input the
# students of each generation saw (masked pixels blacked out), the mask and the pseudo-label, next to the
# ground truth: the paper's figure *IM_over_5_Generations*, drawn from a committed run record.
#
# ```{note}
# **GPU and Colab.** Nothing is trained here: the page reads a run record from `data/results` (each IM record
# stores the mask and pseudo-label of three fixed unlabeled images for every generation) and regenerates the
# image from the record's dataset, which takes about a minute on 2 CPU cores. A GPU changes nothing. To see a
# record of your own, train one with the [train notebook](train) (on a GPU for `preset = "paper"`) and point
# the parameters below at it.
# ```
#
# ```{warning}
# The record shown is a `smoke` run: tiny synthetic images, two generations of briefly trained students. In
# the paper the mask shrinks as the teachers get better; at this scale it need not, and for a given image it
# often does not. Read the figure as a picture of what IM feeds its students, not as evidence of the paper's
# trend.
# ```
#
# ## Overview
#
# - one unlabeled image through the generations of an IM run: blacked-out input, mask, pseudo-label;
# - per generation, over all unlabeled images: how many the students trained on, the mask's share of their
#   pixels, and how often the pseudo-label agrees with the hidden truth outside the mask;
# - every committed ME and IM run's reported generation beside its teachers, and IM with and without the IM
#   class at test time.
#
# ## Prerequisites
#
# - **Concepts**: [the method](../book/method.md), [creating an inconsistency mask](im_creation)
# - **Data**: a committed run record (`data/results/study_b/...`); nothing to download
# - **Time to run**: about a minute on 2 CPU cores (regenerating the synthetic dataset); no training

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
results_dir = "data/results"  # project-relative: the committed run records
dataset = "synthetic-scenes"
method = "im"  # im or me (Model Ensemble also masks)
preset = "smoke"  # smoke; mini records are committed too
seed = 0
image = 0  # which showcase image (0, 1 or 2)
inference_dataset = "synthetic-scenes"  # a multi-class dataset whose IM runs exist in both inference modes
inference_preset = "mini"

# %%
from IPython.display import HTML

from imlib import plots, records, showcase, tables
from imlib.config import run_id
from imlib.paths import project_path

plots.use_book_style()
rid = run_id("b", dataset, method, preset, seed)
record = records.load(records.record_path(project_path(results_dir), rid))
shown = showcase.generation_showcase(record, image)
env = record.environment
print(f"record:   {record.run_id} ({record.dataset.description})\n"
      f"students: {len(record.generations) - 1} generations, on {env.device}\n"
      f"commit:   {env.git_commit[:12]}")

# %% [markdown]
# ## One image, generation by generation
#
# The first column holds the input and its ground truth (which IM never sees); each further column is one
# generation. The title of each mask says how much of this image it covers.

# %% mystnb={"figure": {"caption": "IM over generations for one unlabeled image (after the paper's figure IM_over_5_Generations): per generation the input with the mask blacked out, the inconsistency mask (orange; its share of the image above it) and the pseudo-label, beside the ground truth. Committed record of IM on the synthetic scenes stand-in, smoke preset, seed 0.", "name": "fig-generations"}, "image": {"alt": "A grid with one column per generation: the underwater scene with masked pixels black, the orange inconsistency mask, and the pseudo-label in class colours; the first column shows the input and the ground truth; a colour key names the classes and the mask."}}
plots.generations_figure(shown.image, shown.truth, shown.masks, shown.labels,
                         shown.task);

# %% [markdown]
# ## Every unlabeled image, per generation
#
# The record also keeps, per generation, statistics over all unlabeled images the students trained on. The
# agreement with the truth is a diagnostic only: the method never sees the unlabeled images' labels.

# %%
caption = f"{record.run_id} ({record.dataset.description}, seed {seed})"
tables.styled(showcase.generation_table(record), caption=caption, precision=1)

# %% [markdown]
# ## The reported generation and its teachers
#
# Under the paper's selection rule a run reports the best of its own generations (1..G) on validation, never
# its LDT teachers (generation 0), even when no generation beats them ([the method](../book/method.md)).
# Every committed Model Ensemble and IM record keeps its teachers' scores beside the reported ones; the last
# column says where the reported generation is worse on validation than the teachers it started from.

# %% tags=["hide-input"]
everything = [r for r in records.load_all(project_path(results_dir)) if r.config.study == "b"]
tables.styled(tables.teachers_comparison(everything), index=False, caption=(
    "Reported generation vs its LDT teachers (top-1 models), committed Study B records on the synthetic "
    "stand-ins; cells: MCCE (lower is better), lesion: IoU %, scenes: mIoU %; gen.: the generation reported; "
    "worse (val): the reported generation is worse than its teachers on validation"))

# %% [markdown]
# ## The IM class at test time
#
# Multi-class IM students learn the reserved IM class on masked pixels and can predict it on test images, an
# error as the paper counts it. The table compares IM runs with the paper's inference (every output in the
# argmax) and with the IM class left out of it (`inference = "real-classes"`), on the same seeds: the
# headline test score (mean and 95 % interval over seeds) and the share of test pixels the reported model
# predicted as the IM class.

# %% tags=["hide-input"]
section = tables.inference_section(everything, inference_dataset, inference_preset)
HTML(section or f"<p>No IM records of {inference_dataset} ({inference_preset}) with the IM-class share.</p>")

# %% [markdown]
# ## Summary
#
# - Each generation's teachers produce a new mask and new pseudo-labels; the students train on the input with
#   the mask blacked out.
# - The record keeps this material for three fixed images and statistics over all of them, so the figure is
#   redrawn without training.
# - At the `smoke` scale shown, whether the mask shrinks over the generations varies from image to image and
#   task to task; the paper's trend is a claim about its full-scale runs.
# - The paper's rule can report a generation worse than its teachers on validation; the records say where.
# - Leaving the IM class out of the argmax removes the IM-class pixels; the table shows what it does to the
#   score on the seeds run here.
#
# ## What's next
#
# - [Study B](study_b): the test scores of every generation against the other methods.
# - [Train one run](train): an IM run of your own, whose record this page can show.
# - [Datasets](../book/datasets.md): the synthetic stand-ins and how to bring a real dataset.
