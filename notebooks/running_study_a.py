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
# # Running Study A
#
# Study A trains each host (Supervised, U2PL, UniMatch, iMAS: DeepLabV3+ ResNet-50; UniMatch V2 and SegKC:
# DINOv2-S/14 with a DPT head) on U2PL's Cityscapes splits, with and without the IM plug-in. At the hosts' own
# recipes that is GPU work: 180-240 epochs on 4-8 GPUs per run (the recipe table below). This page says what to
# prepare, how to launch a run on one or several GPUs, and how the cost of a cell is estimated.
#
# ```{note}
# **GPU and Colab.** This page only reads the hosts' recipes and the committed throughput probe: it runs on any
# CPU in seconds. The runs it describes need GPUs: a `paper` run wants the 4-8 GPUs of its host's recipe for
# many hours, which a Colab runtime does not give; a Colab GPU runtime (or a laptop CPU) is enough for a
# `--preset smoke` run of the same commands on the synthetic stand-in. **What a cell costs on a GPU is still
# open**: the only committed probe was measured on a CPU. `python benchmarks/study_a.py --device cuda` (also part
# of `benchmarks/gpu.sh`) measures it and writes `benchmarks/results/study_a-cuda.json`, which this page then
# shows.
# ```
#
# ## Overview
#
# - Preparing Cityscapes with U2PL's splits, and the optional pretrained backbones.
# - Launching a host run and the IM plug-in with `torchrun`, on one or several GPUs, resumably.
# - Each host's official recipe, and how the throughput probe turns it into the hours of a cell.
#
# ## Prerequisites
#
# | read first | why |
# |---|---|
# | {doc}`study_a` | what the study compares |
# | {doc}`../book/datasets`, *Cityscapes, for both studies* | the download and the Study A protocol |
# | {doc}`../book/faithfulness`, *Study A* | where the hosts here differ from their code |
#
# **Time to run**: a few seconds on a CPU (the page trains nothing). A `--preset smoke` run of the commands
# below takes about 30 s on a CPU; the 21 runs of `imlib batch --study a --preset smoke` about 3 minutes on 2
# cores.

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
benchmark_dir = "benchmarks/results"  # project-relative: the committed throughput probes

# %% [markdown]
# ## Prepare the data and (optionally) the pretrained backbone
#
# ```bash
# # leftImg8bit_trainvaltest.zip and gtFine_trainvaltest.zip from cityscapes-dataset.com
# # (an account is needed), unpacked into data/raw/cityscapes; U2PL's split lists are
# # fetched at a pinned commit and checked
# imlib prepare cityscapes --protocol study-a --src data/raw/cityscapes
# ```
#
# Every network starts from random weights unless a local backbone file is given (`--set weights=<file>`):
# torchvision's `resnet50-*.pth` for the default encoder, or the hosts' own deep-stem `resnet50.pth` (UniMatch
# and iMAS READMEs link it) with `--set encoder=resnet50-deepstem weights=<file>`. Nothing is downloaded by a
# run. UniMatch V2 and SegKC start from Meta's DINOv2 file, `dinov2_vits14_pretrain.pth` (`--set weights=<file>`;
# SegKC's DINOv2-B senior: `--set options='{"senior_weights": "<dinov2_vitb14_pretrain.pth>"}'`), loaded with a
# key map and a strict check.
#
# ```{warning}
# The hosts' numbers were obtained with their deep-stem ImageNet file; torchvision's weights are reported to
# give lower numbers (UniMatch issue #38), so say which you used. From random weights a ViT is far below the
# reported numbers. SegKC has no public code: its host is this companion's re-implementation from the paper's
# text, with every value it had to choose listed on the Study A page; its numbers are not the authors'.
# ```
#
# ## Launch
#
# ```bash
# # one host run (the "without IM" cell of seed 0) on 4 GPUs
# torchrun --standalone --nproc_per_node=4 -m imlib train \
#     --study a --preset paper --dataset cityscapes \
#     --method unimatch --split 1/16 --seed 0
# # the IM plug-in (variant G): trains (or reuses) the teacher runs of
# # seeds 0 and 1, makes the IM labels with them, then trains the
# # student on GT ∪ IM pairs
# torchrun --standalone --nproc_per_node=4 -m imlib train \
#     --study a --preset paper --dataset cityscapes \
#     --method unimatch --split 1/16 --seed 0 --plugin im
# # the other variants: --variant M (IM removed from the unsupervised
# # losses), --variant O (online)
# ```
#
# `torchrun` sets `RANK`, `WORLD_SIZE` and `LOCAL_RANK`; the engine reads them (no `--local_rank`), uses
# DistributedDataParallel with SyncBatchNorm, shards the unlabeled list and the validation images, and
# all-reduces the confusion matrix; rank 0 writes the checkpoint every epoch and the run record at the end.
# The same command again resumes after the last finished epoch. With another total batch than the host's
# (`--set total_batch=8`), the LR is scaled linearly and the record says so. On the synthetic stand-in the same
# cell runs on a CPU in about 30 s: `imlib train --study a --preset smoke --dataset synthetic-cityscapes
# --method unimatch --plugin im`.
#
# ## What each host's recipe is
#
# Each host module declares the values of its official Cityscapes configuration (`RECIPE` in
# `imlib/study_a/hosts/*.py`, with the files they come from); the `paper` preset uses them as they are.

# %% tags=["hide-input"]
from IPython.display import Markdown, display

from imlib import efficiency
from imlib.paths import project_path

display(efficiency.shown(efficiency.study_a_recipes(),
                         caption="Each host's official Cityscapes recipe (the paper preset); SegKC: this companion's "
                                 "re-implementation from its paper's text"))

# %% [markdown]
# ## What a cell costs
#
# The throughput probe (`benchmarks/study_a.py`) times each host's training step at its per-GPU batch on one
# device. The cost table multiplies that by the iterations of the host's recipe (an epoch = one pass over the
# unlabeled list; Supervised: over the labeled list), adds a sliding-window evaluation of the 500 validation
# images every epoch, and multiplies by the host's GPU count. A cell of the IM plug-in (variant G, n = 2) is two
# host runs (the teachers, which are also the cell "without IM") and one student run. Communication between
# GPUs is not counted.
#
# ```{warning}
# The only probe committed so far (`study_a-cpu.json`) ran on a CPU at a 128 px crop and batch 2, from a tree
# with uncommitted changes: its table shows how the cost of a cell is computed, and its hours are **not** the
# GPU-hours of the hosts' recipes. A GPU probe adds a table in GPU-hours below it.
# ```

# %% tags=["hide-input"]
bench = project_path(benchmark_dir)
for name in efficiency.available("study_a-", bench):
    probe = efficiency.load(name, bench)
    on_gpu = probe["device"]["type"] == "cuda"
    unit = "GPU-hours" if on_gpu else "hours of this CPU, as if it were each GPU (NOT GPU-hours)"
    display(efficiency.shown(efficiency.study_a_cell_costs(probe), index=False,
                             caption=f"One cell (2 teacher runs + the IM student) in {unit}, per labeled split; "
                                     f"{name}.json: {efficiency.measured_by(probe)}; {probe['scale']}"))
if not efficiency.available("study_a-", bench):
    display(Markdown("No probe results yet: `python benchmarks/study_a.py` writes them."))

# %% [markdown]
# ## Summary
#
# - Prepare Cityscapes once with `imlib prepare cityscapes --protocol study-a`; give pretrained backbones as
#   local files (nothing is downloaded by a run), and say which you used.
# - One `torchrun` command trains a host run or an IM plug-in cell on several GPUs, and the same command resumes it.
# - Each host follows its official recipe (180-240 epochs on 4-8 GPUs); the cost of a cell on a GPU is still to be
#   measured with `benchmarks/study_a.py --device cuda`.
#
# ## What's next
#
# - {doc}`study_a`: the paper's table and this project's runs.
# - {doc}`train_study_a`: a single Study A run, step by step.
# - {doc}`efficiency`: what Study B costs and how the engine keeps it short.
