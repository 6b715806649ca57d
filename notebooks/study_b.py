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
# HeLa (cell count error MCCE, lower is better), SUIM and Cityscapes (mIoU). This page shows what this
# project's run records give for every method, **with the preset each number comes from**:
#
# - `mini`: the paper's protocol (every model trains epochs over its own training set, best epoch and best
#   model chosen on validation, IM and Model Ensemble over generations) reduced to CPU scale, with three
#   seeds, 95 % intervals and paired comparisons. This page leads with it.
# - `smoke`: a quick code check of `make reproduce` (equal small step budgets for every model, one seed): it
#   shows that every method runs, not how they compare.
#
# **Read the provenance of every number:** runs on the synthetic stand-ins (`synthetic-lesion` for ISIC,
# `synthetic-cells` for HeLa, `synthetic-scenes` for SUIM) are marked †; their values are not comparable with
# the paper's and get no delta. The paper's reported numbers are in their own table at the end.
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
lead_preset = "mini"  # the preset the page leads with
quick_preset = "smoke"  # the code check, shown after it

# %%
import pandas as pd
from IPython.display import Markdown, display

from imlib import plots, tables
from imlib.records import load_all

plots.style()
records = [r for r in load_all(results_dir) if r.config.study == "b"]
lead = [r for r in records if r.config.preset == lead_preset]
comparison = tables.study_b_comparison(lead)
if lead:
    display(tables.format_study_b(comparison))
else:
    display(Markdown(f"No `{lead_preset}` records in `{results_dir}` yet: run "
                     f"`imlib batch --study b --preset {lead_preset} --seeds 0 1 2`."))

# %% [markdown]
# Each cell: mean over seeds ± the half-width of its 95 % Student-t interval, with the number of seeds n.
# † a synthetic stand-in run (not a reproduction of the paper's number); Δ = this project − paper, for real data
# only; ↓ lower is better. With three seeds the t quantile is 4.3, so intervals are wide: two rows whose
# intervals overlap are not ranked by this table.
#
# ## What the seeds can conclude
# IM against LDT, Model Ensemble and the strongest semi-supervised baseline (the one best on *validation*),
# paired over seeds (a seed shares the split, the data and the LDT teachers, so the per-seed difference removes
# that noise). A verdict is given only where the 95 % interval of the difference excludes zero.

# %%
tables.format_paired(tables.paired_comparisons(lead))

# %% [markdown]
# ## Can the stand-ins tell methods apart?
# The synthetic tasks and the `mini` preset were calibrated on the two reference rows only (never looking at
# IM, Model Ensemble or the semi-supervised rows): a model trained on all labels (FDT) must beat one trained on
# 10 % (LDT) by at least 5 points (MCCE: 20 %), with separate 95 % intervals. Where this does not hold, no
# row of that task can be told apart either.

# %%
tables.format_calibration(tables.reference_calibration(lead))

# %% [markdown]
# ## What each number was chosen from
# Every reported number is the top-1 model on validation among the method's candidates: the reference and
# semi-supervised models of a run, or every student of every generation for Model Ensemble and IM. The pools
# differ in size between methods (a larger pool favours its top-1), so the mean test value of all candidates
# stands beside the top-1.

# %%
tables.format_selection(comparison)

# %% [markdown]
# ## The quick code check (`smoke`)
# The same table for the `smoke` preset that `make reproduce` runs: every model gets the same small number
# of steps, one seed. It checks that each method runs end to end; its differences are not findings.

# %%
quick = [r for r in records if r.config.preset == quick_preset]
tables.format_study_b(tables.study_b_comparison(quick)) if quick else f"no {quick_preset} records"

# %% [markdown]
# Runs on datasets of your own (prepared with `imlib prepare folder`) have no paper column: they get a table of
# their own, filled when `results_dir` holds such runs (`imlib table` prints it too).

# %%
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
if ran.empty:
    print(f"no {lead_preset} records to draw")
else:
    plots.comparison_bars(ran, ("paper (reported)", "this project"), "paper_method", "panel",
                          f"Study B: reported vs this project's {lead_preset} runs (MCCE: lower is better)")
