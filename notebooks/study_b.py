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
# # Study B: from scratch, 10 % labels
#
# The paper trains its lightweight 1x1 U-Net from scratch with 10 % of the labels on ISIC 2018 (binary IoU),
# HeLa (cell count error MCCE, lower is better), SUIM and Cityscapes (mIoU). Below, each of its reported numbers
# stands beside what this project's run records give for the same method. **Read the provenance of every
# reproduced number:** runs on the synthetic stand-ins (`synthetic-lesion` for ISIC, `synthetic-cells` for
# HeLa, `synthetic-scenes` for SUIM) check that the code runs end to end; their values are not comparable
# with the paper's and get no delta.
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
preset = None  # None: every preset found; or "smoke" / "paper"

# %%
import pandas as pd

from imlib import plots, tables
from imlib.records import load_all

plots.style()
records = [r for r in load_all(results_dir) if r.config.study == "b" and (preset is None or r.config.preset == preset)]
comparison = tables.study_b_comparison(records)
tables.format_study_b(comparison)

# %% [markdown]
# † a synthetic stand-in run (a code check, not a reproduction); Δ = this project − paper, shown for real data
# only; ↓ lower is better.

# %% [markdown]
# Runs on datasets of your own (prepared with `imlib prepare folder`) have no paper column: they get a table of
# their own, filled when `results_dir` holds such runs (`imlib table` prints it too).

# %%
from IPython.display import display

own = tables.own_datasets_table(records)
print(f"no runs on other datasets in {results_dir}") if own.empty else display(own)

# %% [markdown]
# ## Where the numbers come from

# %% [markdown]
# One row per dataset, preset, device and commit (each run's own record has the details: packages, timings, the
# configuration).

# %%
tables.provenance_summary(records).style.hide(axis="index").format(precision=1)

# %% [markdown]
# ## How the semi-supervised baselines were set up
# The paper trains FixMatch {cite}`sohn2020fixmatch`, FPL {cite}`qiao2023fpl`, CrossMatch
# {cite}`zhao2024crossmatch`, iMAS {cite}`zhao2023imas`, U2PL {cite}`wang2022u2pl` and UniMatch
# {cite}`yang2023unimatch` from scratch on its U-Net but does not publish their configuration. This project keeps each method's mechanism and published hyperparameters
# (modules `imlib.methods.fixmatch` ... `u2pl`, over the shared pieces in `imlib.semi`, registered in
# `imlib.methods.registry` with every option's value and reason) and trains every one
# with the settings of the references. For binary and multi-label tasks every output channel is a two-class
# problem (probabilities 1 − p and p, confidence max(p, 1 − p)); each module's docstring says what that means
# for its method (see [the API](../book/api.md)). Every value, and why:

# %%
tables.hyperparameter_table().style.hide(axis="index")

# %% [markdown]
# ## IM and Model Ensemble over generations
# Test score of the validation-chosen model of every generation (generation 0: the LDT teachers), against the
# supervised references as dashed lines.

# %%
gens = tables.generation_frame(records)
for (dataset, preset, variant), part in gens.groupby(["dataset", "preset", "variant"]):  # never pooled
    generational = part[part.kind == "generational"]
    refs = part[part.kind == "reference"].groupby("method", as_index=False).value.mean()
    if generational.empty:
        continue
    label = tables.METRIC_UNITS[part.metric.iloc[0]]
    title = f"{dataset} ({preset}{', ' + variant if variant else ''}): test {label}"
    fig = plots.generation_curves(generational, refs, title,
                                  lower_is_better=part.paper_dataset.iloc[0] in tables.LOWER_IS_BETTER)

# %% [markdown]
# ## The whole table
# Left bar: the paper's number on the real dataset; right bar: this project's number on the dataset named in
# the panel title (synthetic stand-ins are marked).

# %%
ran = comparison.dropna(subset=["reproduced"]).copy()
ran["panel"] = [f"{p} · {d}" + (" [synthetic]" if s else "") for p, d, s in zip(ran.paper_dataset, ran.dataset, ran.synthetic)]
ran = ran.rename(columns={"reported": "paper (reported)", "reproduced": "this project"})
plots.comparison_bars(ran, ("paper (reported)", "this project"), "paper_method", "panel",
                      "Study B: reported vs this project's runs (MCCE: lower is better)");
