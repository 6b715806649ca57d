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
# # Train one run
#
# One method on one dataset with one seed: trains the models, writes the run record, shows the training
# curves and a few test predictions. `imlib batch` executes this notebook with papermill once per cell of a
# grid; the cell tagged `parameters` holds the defaults it overrides.
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
study = "b"
dataset = "synthetic-lesion"  # or synthetic-cells, synthetic-scenes
method = "ldt"  # any key of imlib.methods.registry: ldt, aldt, fdt, afdt, fixmatch, ..., me, im
seed = 0
labeled_fraction = 0.1
preset = "smoke"  # smoke (CPU minutes) or paper (GPU, the paper's protocol)
device = "auto"
results_dir = "../_build/runs"  # imlib batch passes data/results
work_dir = "../data/work"  # trained models, reused and resumed
overrides = {}  # any other RunConfig field, e.g. {"n_teachers": 3, "options": {"mode": "ignore"}}

# %%
import pandas as pd

from imlib import methods, plots, records, showcase
from imlib.config import make_config

plots.style()
cfg = make_config(preset, study=study, dataset=dataset, method=method, seed=seed, labeled_fraction=labeled_fraction,
                  device=device, results_dir=results_dir, work_dir=work_dir, **overrides)
record = methods.run(cfg, progress=False)
path = records.record_path(results_dir, cfg.run_id)
records.save(record, path)
print(f"{cfg.run_id}: record written to {path}")

# %% [markdown]
# ## Scores per generation
# Generation 0 is the set of supervised models (for Model Ensemble and IM: their LDT teachers). "top-1" is the
# model chosen on validation; the run's headline number is marked.

# %%
metric = record.task.metric
pd.DataFrame([{"generation": g.generation, "top-1 model": g.selected, f"val {metric}": g.val[metric],
               f"test {metric}": g.test[metric], f"test {metric} (mean of models)": g.test_mean,
               "headline": "←" if g.generation == record.result.generation else ""}
              for g in record.generations]).round(4)

# %%
plots.training_curves(record);

# %% [markdown]
# ## Test predictions of the headline model

# %%
run, model = showcase.selected_model(record)
if model is None:
    print("the model weights are not on this machine (records are committed, checkpoints are not)")
else:
    from imlib.engine import predict_labels

    test = run.dataset.test
    preds = predict_labels(model, test.images[:4], run.task).cpu().numpy()
    plots.predictions_figure(test.images[:4].cpu().numpy(), test.labels[:4].cpu().numpy(), preds, run.task);
