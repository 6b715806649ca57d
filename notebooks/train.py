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
# # Train one run
#
# One method on one dataset with one seed, here **Inconsistency Masks** on the binary lesion stand-in: the
# teachers train, their disagreement becomes the mask, and generations of students train on the masked
# pseudo-labels; the page writes the run record and shows the scores, the training curves and a few test
# predictions. `imlib batch` executes this same notebook with papermill once per cell of a grid (the cell tagged
# `parameters` holds the defaults it overrides).
#
# ```{note}
# **GPU and Colab.** Executed as the book shows it (`preset = "smoke"`) this page trains 6 small U-Nets on a CPU
# in under a minute. The paper's scale (`preset = "paper"`: 10 teachers, 5 students x 5 generations, 50 epochs
# each) needs a GPU: open the notebook in Colab (the rocket button, then *Colab*) and choose *Runtime > Change
# runtime type > GPU*; the first cell installs imlib at this book's release and prints the device it trains on.
# Mixed precision follows the GPU: bf16 where it is supported (A100, L4, H100), fp16 with loss scaling on older
# GPUs (Colab's T4), fp32 on a CPU.
# ```
#
# ## Overview
#
# - configure a run from a preset (`imlib.config.make_config`) and train it (`imlib.methods.run`);
# - read its record: the score of every generation, the model chosen on validation;
# - see the training curves (the selected epoch of each model marked) and the headline model's predictions.
#
# ## Prerequisites
#
# - **Concepts**: [the method](../book/method.md), [how an inconsistency mask is made](im_creation)
# - **Install**: `make install` in a clone, or the first cell below in Colab
# - **Time to run**: about a minute on 2 CPU cores (`smoke`); the paper preset: hours per run on one GPU

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
study = "b"
# or synthetic-cells, synthetic-scenes, a prepared dataset (isic2018, hela, ...)
dataset = "synthetic-lesion"
method = "im"  # a key of imlib.methods.registry: ldt, ..., unimatch, me, im
seed = 0
labeled_fraction = 0.1
preset = "smoke"  # smoke (CPU minutes), mini (CPU hours), paper (GPU)
device = "auto"
allow_stand_in = False  # paper preset on a stand-in: refused unless True
results_dir = "_build/runs"  # in the project (imlib batch passes data/results)
work_dir = "data/work"  # trained models, reused and resumed
# any other RunConfig field, e.g. {"n_teachers": 3, "options": {"mode": "ignore"}}
overrides = {}

# %% [markdown]
# ## Train
#
# The device line says what the run trains on; a `paper` run on a CPU gets a warning, and a `paper` run on a
# synthetic stand-in stops here unless `allow_stand_in = True` (its numbers would not be the paper's).

# %%
from imlib import colab, methods, plots, records, showcase, tables
from imlib.config import make_config
from imlib.paths import project_path

plots.use_book_style()
cfg = make_config(preset, study=study, dataset=dataset, method=method,
                  seed=seed,
                  labeled_fraction=labeled_fraction, device=device,
                  allow_stand_in=allow_stand_in,
                  results_dir=str(project_path(results_dir)),
                  work_dir=str(project_path(work_dir)), **overrides)
print(f"{cfg.run_id}: training on {colab.device_line(cfg.device, cfg.amp)}")
if warning := colab.paper_on_cpu_warning(cfg.preset, cfg.device):
    print(warning)
record = methods.run(cfg, progress=False)
path = records.record_path(cfg.results_dir, cfg.run_id)
records.save(record, path)
print(f"record written to {path}")

# %% [markdown]
# ## Scores per generation
#
# Generation 0 is the set of supervised models (for Model Ensemble and IM: their LDT teachers). The *top-1*
# model of a generation is the one chosen on validation; the run reports the top-1 of the generation whose top-1
# is best on validation (marked). The mean over a generation's models is shown beside it, because pools differ
# in size between methods.

# %%
tables.generations_table(record)

# %% mystnb={"figure": {"caption": "Training curves of every model of the run: training loss and validation score per epoch; the marker is the epoch whose weights the model keeps (best on validation).", "name": "fig-train-curves"}, "image": {"alt": "Line charts of training loss and validation score per epoch for each model of the run, with the selected epoch of each model marked."}}
plots.training_curves(record);

# %% [markdown]
# ## Test predictions of the headline model

# %% mystnb={"figure": {"caption": "Four test images of the stand-in, their ground truth and the headline model's prediction.", "name": "fig-train-predictions"}, "image": {"alt": "A grid of test images with ground-truth masks and the predicted masks of the selected model."}}
run, model = showcase.selected_model(record)
if model is None:
    print("the model weights are not on this machine "
          "(records are committed, checkpoints are not)")
else:
    from imlib.engine import predict_labels

    test = run.dataset.test
    preds = predict_labels(model, test.images[:4], run.task).cpu().numpy()
    plots.predictions_figure(test.images[:4].cpu().numpy(),
                             test.labels[:4].cpu().numpy(), preds, run.task);

# %% [markdown]
# ## In Colab: your data and your records on Google Drive
#
# A Colab runtime forgets its disk when it is recycled. Keep the records, the trained models (runs resume from
# them) and the datasets on Drive with one call; the project's folders `data/results`, `data/work`,
# `data/prepared` and `data/raw` then live in `MyDrive/imlib` (the committed records are copied there first):
#
# ```python
# from imlib.colab import use_drive
# use_drive("/content/drive/MyDrive/imlib")   # asks for Drive access once per runtime
# ```
#
# A real dataset: put the official archives (or your own `images/` + `masks/` folder) in Drive, then prepare it
# once; it stays in `MyDrive/imlib/data/prepared`:
#
# ```bash
# !imlib download isic2018                    # checks and unpacks what is in data/raw/isic2018 (Drive)
# !imlib prepare isic2018 --src data/raw/isic2018
# !imlib prepare folder --src /content/drive/MyDrive/my-images --name mine   # your own data
# ```
#
# and set `dataset = "isic2018"` (or `"mine"`) and `preset = "paper"` in the parameters cell.
#
# ## Summary
#
# - One call trains a run and returns its typed record; the record holds every generation's scores, the chosen
#   model, the settings, the device and precision, the commit and the release.
# - The smoke numbers above come from a synthetic stand-in and a code-check budget: they say the pipeline runs,
#   not how well IM works (for that see [Study B](study_b)).
#
# ## What's next
#
# - [Study B](study_b): every method over seeds, with intervals.
# - [Reproducing the results](../book/reproduce.md): the batches that execute this notebook per grid cell.
# - [Train one Study A run](train_study_a): IM as a plug-in over a Cityscapes host.
