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
# # Train one Study A run
#
# One host (Supervised, U2PL, UniMatch or iMAS with DeepLabV3+; UniMatch V2 or SegKC with DINOv2-S) on one
# Cityscapes split, without or with the IM plug-in, trained with the host's own recipe; the page writes the run
# record and shows the validation mIoU over the epochs. `imlib batch --study a` executes this notebook with
# papermill once per cell of its grid. With the IM plug-in (variant G) the teacher runs train first unless their
# records exist.
#
# ```{warning}
# **GPU and Colab.** As the book executes it (`preset = "smoke"`) the page trains ResNet-18 hosts at 64-px crops
# of a synthetic street-scene stand-in on a CPU in about a minute: a code check whose mIoU means nothing. The
# `paper` preset is each host's official protocol on the real Cityscapes (`imlib prepare cityscapes --protocol
# study-a`) and needs several large GPUs for hours to days per run: a Colab GPU can run a step or two of it, not
# a cell of the table. [Running Study A](running_study_a) has the costs and the torchrun commands.
# ```
#
# ## Overview
#
# - configure a Study A run (`imlib.study_a.config.make_config`) and train it (`imlib.study_a.run.run`);
# - with `plugin = "im"`: the host's teacher runs, their inconsistency masks on the unlabeled images, and a
#   fresh host run on ground truth plus IM pseudo-labels;
# - the validation mIoU of every network the host has, per epoch.
#
# ## Prerequisites
#
# - **Concepts**: [the method](../book/method.md), [Study A](study_a)
# - **Install**: `make install` in a clone, or the first cell below in Colab
# - **Time to run**: about a minute on 2 CPU cores (`smoke`); `paper`: see [Running Study A](running_study_a)

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
host = "unimatch"  # supervised, u2pl, unimatch, imas, unimatch_v2, segkc
dataset = "synthetic-cityscapes"  # or cityscapes (prepared: --protocol study-a)
split = "1/8"  # 1/16, 1/8, 1/4, 1/2
seed = 0
preset = "smoke"  # smoke (CPU, synthetic) or paper (the host's recipe, GPUs)
plugin = "im"  # none, or im: the IM plug-in
plugin_options = {}  # e.g. {"variant": "M", "n_teachers": 3}
options = {}  # the host's own options
device = "auto"
allow_stand_in = False  # paper preset on the stand-in: refused unless True
results_dir = "_build/runs"  # in the project (imlib batch passes data/results)
work_dir = "data/work"  # checkpoints, weights, IM labels (reused, resumed)
overrides = {}  # any other StudyAConfig field, e.g. {"eval_every": 5}

# %%
from imlib import colab, plots
from imlib.paths import project_path
from imlib.study_a.config import make_config
from imlib.study_a.run import run

plots.use_book_style()
extra = {"plugin_options": plugin_options} if plugin_options else {}
cfg = make_config(preset, host=host, dataset=dataset, split=split, seed=seed,
                  plugin=plugin, options=options, device=device,
                  allow_stand_in=allow_stand_in,
                  results_dir=str(project_path(results_dir)),
                  work_dir=str(project_path(work_dir)), **extra, **overrides)
print(f"{cfg.run_id}\ntraining on {colab.device_line(cfg.device, cfg.amp)}")
if warning := colab.paper_on_cpu_warning(cfg.preset, cfg.device):
    print(warning)
record = run(cfg, progress=False)
best, schedule = record.result, record.schedule
print(f"{record.data.description}, {schedule.total_iterations} iterations")
print(f"learning rate: {schedule.lr_rule}")
print(f"val mIoU best {best.best_miou:.2f} ({best.best_network}, epoch "
      f"{best.best_epoch + 1}), last {best.last_miou:.2f}")

# %% [markdown]
# ## Validation mIoU over the epochs
#
# Every network the host has (the student, and its EMA teacher where it has one), evaluated by sliding window
# over the whole validation set. The hosts report the best evaluation; both best and last are in the record.

# %% mystnb={"figure": {"caption": "Validation mIoU (%) per epoch of every network of the run; the marker is the best evaluation, the number the hosts report. Smoke preset on the synthetic stand-in: a code check, not a result.", "name": "fig-train-study-a-curves"}, "image": {"alt": "Line chart of validation mIoU in percent over the epochs for each network of the Study A run, best evaluation marked."}}
plots.study_a_curves(record);

# %% [markdown]
# ## Summary
#
# - A Study A run is one host recipe, one split, one seed, with or without the IM plug-in; its record keeps the
#   best and the last evaluation of every network, the schedule, the device, precision and release.
# - At the smoke scale the number is a code check; the paper-scale cells are GPU work (see the costs).
#
# ## What's next
#
# - [Study A](study_a): the paper's table beside the runs that exist.
# - [Running Study A](running_study_a): costs, torchrun and cluster commands.
