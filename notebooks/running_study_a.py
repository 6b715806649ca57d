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
# DINOv2-S/14 with a DPT head) on the Cityscapes splits of U2PL, with and without the IM plug-in. At the hosts' own recipes that is GPU work: about a
# hundred GPU-hours per run (table below). This page says what to prepare, how to launch a run on one or
# several GPUs, and what each cell costs.
#
# > **GPU and Colab.** This page only reads the throughput probe's results and runs on any CPU. The runs it
# > describes need GPUs (a Colab GPU runtime is enough for a `smoke` run, not for the `paper` preset).
#
# ## Prepare the data and (optionally) the ImageNet backbone
#
# ```bash
# # leftImg8bit_trainvaltest.zip and gtFine_trainvaltest.zip from cityscapes-dataset.com (an account is needed),
# # unpacked into data/raw/cityscapes; U2PL's split lists are fetched at a pinned commit and checked
# imlib prepare cityscapes --protocol study-a --src data/raw/cityscapes
# ```
#
# Every network starts from random weights unless a local backbone file is given (`--set weights=<file>`):
# torchvision's `resnet50-*.pth` for the default encoder, or the hosts' own deep-stem `resnet50.pth` (UniMatch
# and iMAS READMEs link it) with `--set encoder=resnet50-deepstem weights=<file>`. Nothing is downloaded by a
# run. The hosts' numbers were obtained with their deep-stem file; torchvision's weights are reported to give
# lower numbers (UniMatch issue #38), so say which you used. UniMatch V2 and SegKC start from Meta's DINOv2
# file, `dinov2_vits14_pretrain.pth` (`--set weights=<file>`; SegKC's DINOv2-B senior:
# `--set options='{"senior_weights": "<dinov2_vitb14_pretrain.pth>"}'`), loaded with a key map and a strict
# check; from random weights a ViT is far below the reported numbers.
#
# SegKC has no public code: its host is this companion's re-implementation from the paper's text, with every
# value it had to choose listed on the Study A page; its numbers are not the authors'.
#
# ## Launch
#
# ```bash
# # one host run (the "without IM" cell of seed 0) on 4 GPUs of one machine
# torchrun --standalone --nproc_per_node=4 -m imlib train --study a --preset paper --dataset cityscapes \
#     --method unimatch --split 1/16 --seed 0
# # the IM plug-in (variant G): trains (or reuses) the teacher runs of seeds 0 and 1, makes the IM labels with
# # them, then trains the student on GT ∪ IM pairs
# torchrun --standalone --nproc_per_node=4 -m imlib train --study a --preset paper --dataset cityscapes \
#     --method unimatch --split 1/16 --seed 0 --plugin im
# # the other variants: --variant M (IM removed from the unsupervised losses), --variant O (online)
# ```
#
# `torchrun` sets `RANK`, `WORLD_SIZE` and `LOCAL_RANK`; the engine reads them (no `--local_rank`), uses
# DistributedDataParallel with SyncBatchNorm, shards the unlabeled list and the validation images, and
# all-reduces the confusion matrix; rank 0 writes the checkpoint every epoch and the run record at the end.
# The same command again resumes after the last finished epoch. With another total batch than the host's
# (`--set total_batch=8`), the LR is scaled linearly and the record says so. A `--preset smoke` run of the
# same command takes a minute on a laptop CPU on the synthetic stand-in.

# %% tags=["hide-input", "hide-output"]
import importlib.util, subprocess, sys  # noqa: E401
if importlib.util.find_spec("imlib") is None:  # Colab: install the project (in its own venv it is there)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "git+https://github.com/im-companion/inconsistency-masks"], check=True)
from imlib.colab import setup; setup()  # noqa: E702

# %% tags=["parameters"]
benchmark_dir = "../benchmarks/results"

# %% [markdown]
# ## What each host's recipe is

# %%
import json
from pathlib import Path

import pandas as pd
from IPython.display import Markdown, display

from imlib.methods.registry import methods
from imlib.study_a import costs

recipes = pd.DataFrame([{"host": m.name, **{k: v for k, v in m.objective.RECIPE.__dict__.items() if k != "source"}}
                        for m in methods(study="a", kind="study-a-host")]).set_index("host")
display(recipes.T)  # one column per host: fits the page

# %% [markdown]
# ## What a cell costs
#
# From the throughput probe (`benchmarks/study_a.py`): each host's training step at its per-GPU batch on one
# device, times the iterations of its recipe (an epoch = one pass over the unlabeled list; Supervised: over the
# labeled list), plus a sliding-window evaluation of the 500 validation images every epoch, times the host's
# GPU count. A cell of the IM plug-in (variant G, n = 2) is two host runs (the teachers, which are also the
# cell "without IM") and one student run. Communication between GPUs is not counted. Each file says where it
# was measured; a CPU file times a small crop and batch, and only shows how the table is made.

# %%
files = sorted(Path(benchmark_dir).glob("study_a-*.json"))
for f in files:
    probe = json.loads(f.read_text())
    display(Markdown(f"**{f.name}**: {probe['device']['type']} ({probe['device'].get('name')}), commit "
                     f"{probe['commit'][:7]}, {probe['scale']}"))
    table = costs.cost_table(probe["results"])
    display(table.pivot_table(index=["host", "precision"], columns="split",
                              values="GPU-h per cell (2 teachers + IM student)", sort=False)
            .round(1)[list(costs.LABELED)])
if not files:
    display(Markdown("No probe results yet: `python benchmarks/study_a.py` writes them."))
