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
# # Study A: IM as a plug-in on Cityscapes
#
# The paper adds IM on top of leading semi-supervised methods (Supervised, U2PL, UniMatch, iMAS with
# ResNet-50; UniMatch v2 and SegKC with DINOv2-S) on the standard Cityscapes splits of U2PL (1/16 = 186, 1/8 =
# 372, 1/4 = 744, 1/2 = 1488 labeled images), evaluated as mIoU (%) over the 500 validation images. The table
# is the paper's; the reproduced columns fill in from Study A run records and say *not run* where none exist
# (Study A needs the real Cityscapes data and a GPU).
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

# %%
from imlib import plots, tables
from imlib.records import load_all

plots.style()
table = tables.study_a_comparison(load_all(results_dir))
table.round(2)

# %% [markdown]
# ## What IM adds
# mIoU without and with IM, per method and split, as reported by the paper.

# %%
table["method (backbone)"] = table.method + " (" + table.backbone + ")"
plots.comparison_bars(table, ("without IM", "with IM"), "method (backbone)", "split",
                      "Study A (reported): Cityscapes val mIoU %, without vs with IM");

# %%
gain = table.pivot_table(index="method (backbone)", columns="split", values="IM gain")[["1/16", "1/8", "1/4", "1/2"]]
gain.round(2)
