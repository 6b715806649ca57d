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
# # Efficiency
#
# The paper's Study B trains thousands of small U-Nets: per seed 10 models for each of four references, 5
# students in each of 5 generations for Model Ensemble and IM, 3 models for each of six semi-supervised
# baselines, on each dataset. A 1x1 U-Net at batch 32 leaves a GPU mostly idle, so how the models are
# trained decides whether the study takes hours or days. This page shows what the engine does about it and
# what was measured; every table names the device, commit and date of its measurement
# (`benchmarks/results/*.json`, written by the scripts in `benchmarks/`).
#
# ```{note}
# **GPU and Colab.** This page only reads committed benchmark results: it runs on any CPU in seconds, and in
# Colab without a GPU runtime. **The GPU figures are still open**: no GPU was lent to the sessions that built
# this page, so every number below was measured on a CPU. On a GPU, `bash benchmarks/gpu.sh` (about 6-8 minutes
# on an H100/H200) measures all of them: the packed U-Nets at 256 px with the `torch.compile`, fused-AdamW and
# channels-last candidates (`packed-cuda.json`), the `paper` preset's Study B cost with and without packing
# (`study_b_cost-cuda-paper*.json`) and Study A's probe (`study_a-cuda.json`). Commit those files and this page
# shows their rows.
# ```
#
# ## Overview
#
# - What the engine does so that many small models keep a device busy: packed sets of models, baselines in
#   lockstep, seeds together, steps without host syncs.
# - What packing measured on a CPU against training the models one after another and against a conventional
#   PyTorch loop.
# - What one seed of Study B costs at the `smoke` and `mini` presets, projected from timed steps and checked
#   against runs end to end and against the committed records.
#
# ## Prerequisites
#
# | read first | why |
# |---|---|
# | {doc}`../book/method` | what a generation and its students are |
# | {doc}`../book/reproduce` | the presets and `imlib batch` |
#
# **Time to run**: a few seconds on a CPU (the page reads JSON; it trains nothing). The benchmarks themselves
# are not run by the page: `benchmarks/study_b_cost.py` takes about a minute on a CPU at the smoke preset
# (`benchmarks/README.md`), `benchmarks/gpu.sh` about 6-8 minutes on a GPU.

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
benchmark_dir = "benchmarks/results"  # project-relative: the committed measurements

# %% [markdown]
# ## What the engine does
#
# - **K models per step.** The models of a set (the reference models of a run, a generation's students) are
#   trained together as one network whose convolutions are grouped (`imlib.packed`): each member keeps its own
#   seed, batch stream, loss, best epoch and checkpoint, and ends with the weights it would have had alone
#   (float64 test: to 1e-9). The semi-supervised baselines train in *lockstep* (`imlib.lockstep`): each
#   member runs its own objective (views, pseudo-labels, EMA teacher slice, memory bank) in its own thread,
#   and only the network calls are batched over the members, so each member again ends as it would alone
#   (float64 test for FixMatch, UniMatch, CrossMatch, FPL and U2PL; iMAS, whose CutMix trigger changes its
#   network calls from step to step, trains alone). `pack_models` (a training setting, recorded in every run)
#   defaults to all models of a set on a GPU; on the CPU to the supervised sets of narrow networks
#   (alpha <= 0.5) only, where packing measured faster.
# - **Seeds together.** `imlib batch --pack-seeds --executor inprocess` (or `imlib.methods.run_seeds`) runs
#   the seeds of a (dataset, method) as one job: each seed's run in its own thread, and every set of models
#   packed with the same set of the other seeds (3 seeds x 10 reference models = one network of 30), the
#   dataset loaded once; each seed's record is the one it would get alone (float64 test).
# - **No host syncs in a step.** Batch indices go to the device without blocking, losses and views have no
#   data-dependent branches, constants are built once; `tests/test_host_syncs.py` counts the syncs of each
#   method's step on the CPU so that they cannot creep back (budget 0; iMAS 1, U2PL 4 per class).
# - **Cheap epoch boundaries.** The best weights stay on the device, predictions are discretised batch by
#   batch, and a resumable checkpoint is written at most once a minute (`checkpoint_seconds`), not every epoch.
# - **The batch.** Model Ensemble and IM start as soon as their own seed's LDT run is done; a worker keeps one
#   notebook kernel for its runs; on a GPU `--jobs` may exceed the GPU count (several runs share a GPU).
#
# ```{warning}
# **Not done (open).** `torch.compile`, CUDA graphs, fused AdamW and channels-last are not enabled: each was to
# be kept only if it pays on a GPU, and no GPU measurement exists yet. On the CPU, channels-last and foreach
# AdamW changed a step by 0-15 % in either direction (noise level), so they were left out.
# ```
#
# ## K models packed into one network
#
# `benchmarks/packed.py` times one training step (forward, the task loss, backward, AdamW) of K U-Nets three
# ways in the same process: packed into one grouped network, the same K models one after another (the
# engine's path for a single model), and a conventional PyTorch loop (a `DataLoader` over the same images with
# per-sample augmentation in worker processes). Images per second count every model's images; a ratio above 1
# means the packed step is faster.

# %% tags=["hide-input"]
from IPython.display import Markdown, display

from imlib import efficiency
from imlib.paths import project_path

bench = project_path(benchmark_dir)
for name in efficiency.available("packed-", bench):
    result = efficiency.load(name, bench)
    first = result["results"][0]
    display(efficiency.shown(efficiency.packed_table(result).reset_index(), index=False,
                             caption=f"Training images per second, {name}.json: {efficiency.measured_by(result)}; "
                                     f"{first['size']} px, batch {first['batch_per_model']} per model"))

# %% [markdown]
# On the CPU a step is compute-bound, so packing gains little and the figures move by 10-20 % between runs:
# 1.0-1.5x for the half-width network (alpha 0.5, the smoke preset's and ISIC's; 1.15x at the smoke size on one
# thread), 0.8-1.2x at full width; hence the CPU rule above. vmap over stacked parameters (`vmap / packed`) was
# 0.6-1.1x the packed step on the CPU, so the engine packs. Lockstep for the baselines was measured on the CPU
# too (`study_b_cost.py --preset mini --pack-models 2` against `--pack-models 1`, one thread, commit f950097,
# kept as `benchmarks/results/lockstep-cpu-mini-k{1,2}.json`): per model 0.7-1.1x (FixMatch 0.69-0.95x,
# UniMatch 0.87-0.92x, CrossMatch 0.80-0.93x, FPL 0.96-1.12x, U2PL 1.00-1.04x across the three tasks), so on the
# CPU the baselines train one model at a time.
#
# ```{note}
# The point of packing is the GPU, where one small U-Net cannot fill the device. The targets: 10,000 training
# images/s at alpha 1 and 20,000 at alpha 0.5, 256 px, on one H100/H200-class GPU, and 10x the conventional
# loop. Those figures are open until `benchmarks/gpu.sh` has run on a GPU.
# ```
#
# ## What Study B costs
#
# `benchmarks/study_b_cost.py` times every method's training step on synthetic data at a preset's image size,
# batch and width, as the engine trains it (packed sets, each baseline's own objective), and times inference per
# image; the preset's protocol then gives each cell's number of steps and predicted images (see the script's
# docstring for the counts). The sum over the twelve methods and the three synthetic stand-in tasks is one seed
# of Study B at that preset. Data generation and kernel start-up are not included; the checks below the tables
# put the projection beside cells run end to end and beside the committed records, so the model's error is on
# record.

# %% tags=["hide-input"]
for name in efficiency.available("study_b_cost-", bench):
    result = efficiency.load(name, bench)
    display(Markdown(f"**Preset `{result['preset']}`: {60 * result['per_seed_hours']:.1f} minutes per seed**, "
                     f"{len(result['tasks'])} synthetic tasks, projected from `{name}.json` "
                     f"({efficiency.measured_by(result)})."))
    display(efficiency.shown(efficiency.cost_by_method(result),
                             caption=f"{result['preset']}: projected cost of one seed per method (the three tasks "
                                     "summed), most expensive first"))
    check = efficiency.cost_check(result)
    if len(check):
        display(efficiency.shown(check, caption=f"{result['preset']}: cells run end to end (synthetic-lesion) "
                                                "against the projection"))
    from_records = efficiency.records_check(result)
    if len(from_records):
        display(efficiency.shown(from_records, caption=f"{result['preset']}: the committed records (seed 0; two "
                                 "single-thread jobs) against the projected training of the same cells"))

# %% [markdown]
# ```{warning}
# The `paper` preset's cost on a GPU (the target: at most 2 GPU-hours per seed of Study B) is open: it needs
# `python benchmarks/study_b_cost.py --device cuda --preset paper` (part of `benchmarks/gpu.sh`) on a GPU and its
# JSON committed. Nothing on this page says what a `paper` seed costs.
# ```
#
# ## Summary
#
# - Sets of supervised models train as one packed network with the exact semantics of separate trainings; the
#   baselines train in lockstep; seeds can train together; steps make no host syncs; epoch boundaries are cheap.
# - On the CPU that buys little (packing 0.8-1.5x), since the step is compute-bound, so the CPU rules pack only
#   the narrow supervised sets.
# - One seed of Study B costs minutes at `smoke` and under two hours at `mini` on one CPU thread; the projection
#   is close: the committed `mini` records took 1.03-1.15x the projected training time (`smoke`: 1.27-1.39x,
#   where fixed costs weigh more). The GPU figures are still to be measured.
#
# ## What's next
#
# - {doc}`../book/reproduce`: run the presets these costs are for.
# - {doc}`running_study_a`: what Study A's GPU runs cost.
# - {doc}`../book/execution`: how long each page of this book took to execute.
