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
# 372, 1/4 = 744, 1/2 = 1488 labeled images), evaluated as mIoU (%) over the 500 validation images. This page
# shows the paper's table and its gains, and, apart from them, what this project's Study A run records hold.
#
# ```{note}
# **GPU and Colab.** This page needs no GPU: executing it only reads the run records under `data/results`
# (seconds on a CPU). Training Study A at the paper's scale needs the real Cityscapes data and GPUs: see
# [Running Study A](running_study_a). In Colab (the rocket button, then *Colab*) the first cell installs imlib;
# after `imlib.colab.use_drive()` the records you train there are kept on Google Drive and this page reads them.
# ```
#
# ## Overview
#
# - the paper's Study A table: every host without and with IM, per split, and the gain;
# - the gains in one chart, readable from 0.2 to 7.6 mIoU points;
# - this project's Study A runs so far (the `smoke` code check on a synthetic stand-in), in a table of their own;
# - how the SegKC host, which has no public code, was re-implemented.
#
# ## Prerequisites
#
# - **Concepts**: [the method](../book/method.md), [Study B](study_b) (IM from scratch), mIoU
# - **Data**: none to read the page; Cityscapes for the `paper` preset ([Running Study A](running_study_a))
# - **Time to run**: this page: seconds on a CPU. Its `smoke` records: a few minutes on 2 CPU cores, part of `make reproduce`; the `paper` preset: GPUs, per [Running Study A](running_study_a)

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
results_dir = "data/results"  # project-relative or absolute

# %% tags=["hide-input"]
import pandas as pd
from IPython.display import Markdown, display

from imlib import plots, result_figures
from imlib.paths import project_path
from imlib.study_a import records, tables
from imlib.study_a.hosts import get_host
from imlib.study_a.hosts.segkc import CHOICES
from imlib.tables import styled

plots.use_book_style()
runs = records.load_all(project_path(results_dir))

# %% [markdown]
# ## The paper's table
# Validation mIoU (%) as the paper reports it, per host (method · backbone) and split (labeled images in
# brackets): without IM, with IM and the gain in mIoU points (in bold). Nothing of this project is in this
# table.

# %% tags=["hide-input"]
paper = tables.paper_table()
gains = pd.IndexSlice[[row for row in paper.index if row[1] == "gain"], :]
(styled(paper, caption="The paper's Study A table as reported (arXiv 2401.14387): Cityscapes validation mIoU (%) "
                       "per host without and with IM, and the gain in mIoU points.")
 .format(precision=2).format("{:+.2f}", subset=gains)
 .set_properties(subset=gains, **{"font-weight": "600"}))

# %% [markdown]
# ## What IM adds, as reported
# {numref}`fig-study-a-gains` shows the gain of +IM per host and split. The gains shrink as the host gets
# stronger: from 1.1 to 7.6 points for the supervised ResNet-50 baseline, about 0.4 to 2 points for the
# semi-supervised ResNet-50 hosts, 0.2 to 0.6 points for the DINOv2-S hosts. The paper gives no seed counts
# or intervals, so whether gains of a few tenths exceed the run-to-run spread cannot be read from its table;
# reproducing those cells needs several seeds per cell.

# %% mystnb={"figure": {"caption": "The IM gain in mIoU points per host and split, as the paper reports it (log scale, so that gains of 0.2 and of 7.6 points are both readable). Not this project's runs.", "name": "fig-study-a-gains"}, "image": {"alt": "Dot chart on a logarithmic axis: for each of six hosts, four dots (one per labeled split) at the reported IM gain, from +7.60 points for the supervised baseline at 1/16 down to +0.22 for UniMatch v2 at 1/8."}} tags=["hide-input"]
result_figures.im_gain_figure(tables.comparison([]));

# %% [markdown]
# ## This project's runs
# What the Study A run records in `results_dir` give, without IM and with IM (variant G), per host and split;
# splits without any run are left out (so far only 1/8 has runs).
#
# ```{warning}
# † marks a cell of the `smoke` preset or of the synthetic stand-in: a check that the code runs end to end,
# **not a reproduction** (a ResNet-18 at 64-px crops, or a 4-block DINOv2 ViT at 56-px crops, for a few
# iterations from random weights; mIoU values of a few percent). They are never compared with the paper's
# table. Cells of the `paper` preset on the real Cityscapes appear here unmarked once someone runs them on
# GPUs ([Running Study A](running_study_a)).
# ```

# %% tags=["hide-input"]
mine = tables.reproduced_table(runs)
if mine.empty:
    display(Markdown(f"No Study A run records in `{results_dir}` yet: run `imlib batch --study a --preset smoke`."))
else:
    display(styled(mine, caption=f"This project's Study A runs ({tables.provenance_line(runs)}): best validation "
                                 "mIoU (%), mean over seeds ± the half-width of its 95 % t interval (n seeds). † "
                                 "smoke preset or synthetic stand-in: a code check, not a result."))

# %% [markdown]
# ## The runs behind the reproduced cells
# Every host without and with the plug-in, in variant G (IM as data); UniMatch also in variants M (masked
# losses) and O (online), SegKC in O. Per run: the share of unlabeled pixels the inconsistency mask removed,
# the iterations and the time per iteration. Which variant the paper used is not stated anywhere we could
# read; G is this companion's reading.

# %% tags=["hide-input"]
variants = tables.format_variants(tables.variants_table(runs))
if variants.empty:
    display(Markdown(f"No Study A run records in `{results_dir}` yet: run `imlib batch --study a --preset smoke`."))
else:
    display(styled(variants, precision=3,
                   caption=f"Every Study A run, mean over seeds ({tables.provenance_line(runs)}). A code "
                           "check, not a result; — where the run record holds no mask share.")
            .format(precision=1, na_rep="—", subset=["best mIoU %", "last mIoU %", "masked % of unlabeled pixels"]))

# %% [markdown]
# ## SegKC is a re-implementation
# SegKC (Than et al., arXiv 2503.10693) has no public code. Its host here follows the paper's text (cross
# pseudo supervision between a senior and a junior network, knowledge consultation at the feature and the
# prediction level, consistency regularisation); everything the text leaves open was chosen, without tuning,
# and is listed below. Its rows are therefore this companion's SegKC, not the authors'.

# %% tags=["hide-input"]
segkc = get_host("segkc")
lines = [f"- **{what}**: {chosen}" for what, chosen in CHOICES.items()]
lines += [f"- option `{name}` = `{o.default!r}`: {o.why}" for name, o in segkc.OPTIONS.items()]
display(Markdown("\n".join(lines)))

# %% [markdown]
# ## Summary
#
# - The paper reports a gain from IM for every host and split, from 7.6 points (supervised, 1/16) down to
#   0.2-0.3 points for the DINOv2-S hosts.
# - This project's Study A records are so far the `smoke` code check on a synthetic stand-in: they show that
#   every host and plug-in variant runs, not how large the gain is.
# - Reproducing the table needs the real Cityscapes data, GPUs and several seeds per cell.
#
# ## What's next
#
# - [Running Study A](running_study_a): preparing Cityscapes and running the `paper` preset.
# - [Study B](study_b): IM trained from scratch, with the `mini` runs on the stand-ins.
# - [Reproduce](../book/reproduce.md): every command behind the records.
