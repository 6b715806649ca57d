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
# The paper trains its lightweight U-Net from scratch with 10 % of the labels on ISIC 2018 (binary IoU), HeLa
# (cell count error MCCE, lower is better), SUIM and Cityscapes (mIoU), and compares IM with supervised
# references, six semi-supervised methods and Model Ensemble. This page shows the paper's table and, **apart
# from it**, what this project's run records give.
#
# ```{note}
# **GPU and Colab.** This page needs no GPU: executing it only reads the run records under `data/results`
# (seconds on a CPU). Producing records is what costs (see *Time to run* below). In Colab (the rocket button,
# then *Colab*) the first cell installs imlib; after `imlib.colab.use_drive()` the records you train there are
# kept on Google Drive, and this page reads them together with the committed ones.
# ```
#
# ## Overview
#
# - the paper's reported Study B table, every row and every dataset column (Cityscapes included);
# - this project's numbers at the `mini` preset on synthetic stand-ins (three seeds, 95 % intervals), in a table
#   of their own, with what the seeds can and cannot conclude, including where IM loses;
# - IM and Model Ensemble generation by generation, at `mini` and at the quick `smoke` check;
# - where every number comes from (preset, data, device, commit) and how the baselines were set up.
#
# ## Prerequisites
#
# - **Concepts**: [the method](../book/method.md), [IM over generations](generations), 95 % Student-t intervals over seeds
# - **Data**: none: the page reads run records; the stand-ins are described in [the datasets](../book/datasets.md)
# - **Time to run**: this page: seconds on a CPU. The records behind it: `smoke` about 10 min on 2 CPU cores (`make reproduce`); `mini` about 6 h of CPU time (3 datasets x 12 methods x 3 seeds, minutes per dataset in the provenance table); the `paper` preset needs a GPU and the real datasets

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
lead_preset = "mini"  # the preset the page leads with
quick_preset = "smoke"  # the code check, shown after it

# %% tags=["hide-input"]
from IPython.display import Markdown, display

from imlib import plots, result_figures, tables
from imlib.paths import project_path
from imlib.records import load_all

plots.use_book_style()
records = [r for r in load_all(project_path(results_dir)) if r.config.study == "b"]
lead = [r for r in records if r.config.preset == lead_preset]
quick = [r for r in records if r.config.preset == quick_preset]
seeds = sorted({r.config.seed for r in lead})
comparison = tables.study_b_comparison(lead)
paired = tables.paired_comparisons(lead)

# %% [markdown]
# ## The paper's table
# What the paper reports for each method and dataset, in the paper's units: IoU (%) on ISIC 2018, the mean
# cell count error MCCE on HeLa (miscounted cells per image, lower is better), mIoU (%) on SUIM and on
# Cityscapes. Nothing of this project is in this table.

# %% tags=["hide-input"]
tables.styled(tables.paper_table(), precision=1,
              caption="The paper's Study B table as reported (arXiv 2401.14387): U-Net from scratch, 10 % labels.")

# %% [markdown]
# ## This project's runs (`mini`)
# The `mini` preset is the paper's protocol (every model trains epochs over its own training set, best epoch
# and best model chosen on validation, IM and Model Ensemble over generations) reduced to CPU scale, run on
# synthetic stand-ins for the paper's datasets (`synthetic-lesion` for ISIC 2018, `synthetic-cells` for HeLa,
# `synthetic-scenes` for SUIM; there is no Study B stand-in for Cityscapes), with three seeds.
#
# ```{warning}
# These are **not** the paper's numbers and not a reproduction of them: other data, other image sizes, other
# budgets. Read them against each other, never against the table above.
# ```

# %% mystnb={"markdown_format": "myst"} tags=["hide-input"]
if lead:
    devices = ", ".join(sorted({str(r.environment.device) for r in lead}))
    commits = ", ".join(sorted({r.environment.git_commit[:7] for r in lead}))
    intro = (f"The `{lead_preset}` records in `{results_dir}` (seeds {', '.join(map(str, seeds))}; {devices}; "
             f"commit {commits}), paired over seeds: a difference is IM − the other method in the paper's unit, "
             "positive where IM is better (for MCCE: fewer miscounted cells), with its 95 % interval. A "
             "difference whose interval includes zero is not a finding, whatever its sign.")
    display(Markdown(tables.findings_markdown(tables.study_b_findings(comparison, paired),
                                              "What these numbers show", intro)))
else:
    display(Markdown(f"No `{lead_preset}` records in `{results_dir}` yet: run "
                     f"`imlib batch --study b --preset {lead_preset} --seeds 0 1 2`."))

# %% [markdown]
# In short: on all three stand-ins IM beats its own starting point (LDT, the teachers of generation 0) and
# Model Ensemble, with intervals that exclude zero. It does **not** beat the strongest semi-supervised
# baseline, and on `synthetic-lesion` and `synthetic-scenes` several methods trained on the same labels have a
# better mean than IM. The full table:

# %% tags=["hide-input"]
if lead:
    display(tables.styled(tables.reproduced_table(comparison),
                          caption=f"This project's Study B numbers at the {lead_preset} preset: test value of "
                                  "the model chosen on validation, mean over seeds ± the half-width of its 95 % "
                                  "t interval. † synthetic stand-in."))

# %% [markdown]
# The same numbers as bars ({numref}`fig-study-b-bars`); a whisker is the 95 % interval over seeds. With three
# seeds the t quantile is 4.3, so intervals are wide: two bars whose whiskers overlap are not ranked by this
# chart.

# %% mystnb={"figure": {"caption": "This project's Study B numbers at the `mini` preset on the synthetic stand-ins (three seeds; CPU; the commit is in the provenance table): mean test score of the model chosen on validation, whisker: 95 % t interval. Not comparable with the paper's numbers.", "name": "fig-study-b-bars"}, "image": {"alt": "Three panels of horizontal bars, one per synthetic stand-in, with one bar per method coloured by group (supervised references, semi-supervised baselines, ME and IM) and a 95 % interval whisker on each."}} tags=["hide-input"]
if lead:
    result_figures.method_bars(comparison);

# %% [markdown]
# ## What the seeds can conclude
# IM against LDT, Model Ensemble and the strongest semi-supervised baseline (the one best on *validation*),
# paired over seeds (a seed shares the split, the data and the LDT teachers, so the per-seed difference removes
# that noise). A verdict is given only where the 95 % interval of the difference excludes zero.

# %% tags=["hide-input"]
tables.styled(tables.format_paired(paired, short=True), wrap=("verdict",),
              caption=f"IM paired over seeds ({lead_preset}): IM − other in the paper's unit (positive: IM "
                      "better) with its 95 % interval, the seeds IM is ahead and behind on. * the semi-supervised "
                      "baseline best on validation. † synthetic stand-in.")

# %% [markdown]
# ## Can the stand-ins tell methods apart?
# The synthetic tasks and the `mini` preset were calibrated on the two reference rows only (never looking at
# IM, Model Ensemble or the semi-supervised rows): a model trained on all labels (FDT) must beat one trained on
# 10 % (LDT) by at least 5 points (MCCE: 20 %), with separate 95 % intervals. Where this does not hold, no
# row of that task can be told apart either.

# %% tags=["hide-input"]
calibration = tables.format_calibration(tables.reference_calibration(lead))
if not calibration.empty:
    display(tables.styled(calibration.reset_index(level="preset", drop=True).drop(columns="seeds"),
                          wrap=("required",), left=("holds",),
                          caption=f"FDT against LDT per stand-in ({lead_preset}, {len(seeds)} seeds; mean [95 % "
                                  "interval]): the calibration rule."))

# %% [markdown]
# ## What each number was chosen from
# Every reported number is the top-1 model on validation among the method's candidates: the reference and
# semi-supervised models of a run, or every student of every generation for Model Ensemble and IM. The pools
# differ in size between methods (a larger pool favours its top-1), so the mean test value of all candidates
# stands beside the top-1.

# %% tags=["hide-input"]
tables.styled(tables.format_selection(comparison),
              caption="Top-1 on validation / mean test value of all candidates, of n candidate models.")

# %% [markdown]
# ## IM and Model Ensemble over generations
# {numref}`fig-generations-lead` follows the model chosen on validation generation by generation (generation
# 0 is the LDT teachers both methods start from), against the supervised references as dashed lines. At `mini`,
# IM's mean improves with every generation on all three stand-ins and ends between LDT and the full-label FDT;
# Model Ensemble gains less (about 5 points on `synthetic-lesion`, 3 on `synthetic-scenes`, nothing on
# `synthetic-cells`). The intervals of generations 1 and 2 overlap, so three seeds do not show whether the
# second generation helped beyond the first, nor whether a third would.

# %% mystnb={"figure": {"caption": "Test score per generation at the `mini` preset (mean over three seeds, bars: 95 % t interval; synthetic stand-ins, CPU). Dashed: the supervised references (mean over seeds). Generation 0: the LDT teachers.", "name": "fig-generations-lead"}, "image": {"alt": "Three line charts, one per stand-in: IM rises from generation 0 to 2 on every stand-in, Model Ensemble stays near the LDT line; dashed reference lines for LDT, ALDT, FDT and AFDT."}} tags=["hide-input"]
gens = tables.generation_frame(records)
if not gens[gens.preset == lead_preset].empty:
    result_figures.generation_curves(gens[gens.preset == lead_preset]);

# %% [markdown]
# ## The quick code check (`smoke`)
# The `smoke` preset is what `make reproduce` runs in minutes: every model gets the same small number of steps,
# one seed. It checks that every method runs end to end; its differences are not findings.

# %% tags=["hide-input"]
if quick:
    display(tables.styled(tables.reproduced_table(tables.study_b_comparison(quick)),
                          caption=f"This project's Study B numbers at the {quick_preset} preset (one seed; a "
                                  "code check, not a result). † synthetic stand-in."))
else:
    display(Markdown(f"No `{quick_preset}` records in `{results_dir}`."))

# %% [markdown]
# In {numref}`fig-generations-quick` IM gets **worse** over the generations on `synthetic-cells` (MCCE up from
# 2.5 to 5.3) and on `synthetic-scenes` (mIoU down from 42 to 29), and slightly on `synthetic-lesion`; Model
# Ensemble does the same. This is one seed, so it is not a finding about IM, and the references show why the
# check cannot rank methods: at this budget FDT, trained on **all** the labels, is itself below LDT on
# `synthetic-cells` and `synthetic-scenes`, so more training data, real or pseudo-labelled, does not yet buy a
# better model. A plausible reason, not tested here, is that with the same few steps for every model a
# student whose training set grows by the pseudo-labelled images sees each image fewer times than the
# teachers did. The `mini` preset, where each model trains epochs over its own set, does not show the decline
# ({numref}`fig-generations-lead`).

# %% mystnb={"figure": {"caption": "Test score per generation at the `smoke` preset (one seed, no interval; synthetic stand-ins, CPU): the code check of `make reproduce`, not a result. Dashed: the supervised references.", "name": "fig-generations-quick"}, "image": {"alt": "Three line charts, one per stand-in, at the smoke preset: IM and Model Ensemble fall below their generation-0 value on synthetic-cells and synthetic-scenes; FDT's dashed line lies below LDT's on those two."}} tags=["hide-input"]
if not gens[gens.preset == quick_preset].empty:
    result_figures.generation_curves(gens[gens.preset == quick_preset]);

# %% [markdown]
# Runs on datasets of your own (prepared with `imlib prepare folder`) have no paper column: they get a table of
# their own, filled when `results_dir` holds such runs (`imlib table` prints it too).

# %% tags=["hide-input"]
own = tables.own_datasets_table(records)
if own.empty:
    display(Markdown(f"No runs on other datasets in `{results_dir}`."))
else:
    display(tables.styled(own, caption="Runs on datasets of your own: mean ± std over seeds."))

# %% [markdown]
# ## Where the numbers come from
# One row per dataset, preset, device and commit (each run's own record has the details: packages, timings,
# the configuration).

# %% tags=["hide-input"]
tables.styled(tables.provenance_table(records), index=False, wrap=("dataset", "methods"),
              left=("preset", "device", "commit", "seeds"), precision=1,
              caption="Provenance of the Study B records († synthetic stand-in): minutes of compute, summed "
                      "over the runs.")

# %% [markdown]
# ## How the semi-supervised baselines were set up
# The paper trains FixMatch {cite}`sohn2020fixmatch`, FPL {cite}`qiao2023fpl`, CrossMatch
# {cite}`zhao2024crossmatch`, iMAS {cite}`zhao2023imas`, U2PL {cite}`wang2022u2pl` and UniMatch
# {cite}`yang2023unimatch` from scratch on its U-Net but does not publish their configuration. This project
# keeps each method's mechanism and published hyperparameters (modules `imlib.methods.fixmatch` ... `u2pl`, over
# the shared pieces in `imlib.semi`, registered in `imlib.methods.registry` with every option's value and
# reason) and trains every one with the settings of the references. For binary and multi-label tasks every
# output channel is a two-class problem (probabilities 1 − p and p, confidence max(p, 1 − p)); each module's
# docstring says what that means for its method (see [the API](../book/api.md)). Every value, and why:

# %% tags=["hide-input"]
tables.styled(tables.hyperparameter_table().set_index(["method", "parameter"]), wrap=("why", "value"),
              caption="Settings of the baselines and of ME and IM, with the reason for each value.")

# %% [markdown]
# ## Summary
#
# - The paper's table stands on its own; this project has no run on the paper's real datasets yet, only on
#   synthetic stand-ins, whose numbers are never compared with the paper's.
# - At `mini` (three seeds), IM is better than LDT and than Model Ensemble on all three stand-ins; against the
#   strongest semi-supervised baseline the seeds resolve no difference, and on two stand-ins several methods
#   have a better mean than IM.
# - The `smoke` check shows every method running; its single-seed numbers, including IM's decline over the
#   generations, are not findings.
#
# ## What's next
#
# - [Study A](study_a): IM as a plug-in on Cityscapes, the paper's second study.
# - [Reproduce](../book/reproduce.md): the commands behind these records, and how to run the `paper` preset.
# - [Train one run](train): one IM run, its curves and its predictions.
