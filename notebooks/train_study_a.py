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
# # Train one Study A run
#
# One host (Supervised, U2PL, UniMatch or iMAS, DeepLabV3+) on one Cityscapes split, without or with the IM
# plug-in, trained with the host's own recipe; writes the run record and shows the validation mIoU over the
# epochs. `imlib batch --study a` executes this notebook with papermill once per cell of its grid. With the IM
# plug-in (variant G), the teacher runs are trained first unless their records exist.
#
# > **GPU and Colab.** The `smoke` preset runs on a CPU in a minute on the synthetic stand-in. The `paper` preset
# > is each host's official protocol on the real Cityscapes (`imlib prepare cityscapes --protocol study-a`) and
# > needs GPUs: see *Running Study A* for the costs and the torchrun commands.

# %% tags=["hide-input", "hide-output"]
import importlib.util, subprocess, sys  # noqa: E401
if importlib.util.find_spec("imlib") is None:  # Colab: install the project (in its own venv it is there)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "git+https://github.com/im-companion/inconsistency-masks"], check=True)
from imlib.colab import setup; setup()  # noqa: E702

# %% tags=["parameters"]
host = "unimatch"  # supervised, u2pl, unimatch, imas, unimatch_v2, segkc
dataset = "synthetic-cityscapes"  # or cityscapes (prepared with --protocol study-a)
split = "1/8"  # 1/16, 1/8, 1/4, 1/2
seed = 0
preset = "smoke"  # smoke (CPU, synthetic) or paper (the host's recipe, GPUs)
plugin = "im"  # none, or im: the IM plug-in
plugin_options = {}  # e.g. {"variant": "M", "n_teachers": 3, "blackout": "mean"}
options = {}  # the host's own options
device = "auto"
results_dir = "../_build/runs"  # imlib batch passes data/results
work_dir = "../data/work"  # checkpoints, weights and IM labels (reused and resumed)
overrides = {}  # any other StudyAConfig field, e.g. {"eval_every": 5}

# %%
from imlib import plots
from imlib.study_a.config import make_config
from imlib.study_a.run import run

plots.style()
cfg = make_config(preset, host=host, dataset=dataset, split=split, seed=seed, plugin=plugin, options=options,
                  device=device, results_dir=results_dir, work_dir=work_dir,
                  **({"plugin_options": plugin_options} if plugin_options else {}), **overrides)
record = run(cfg, progress=False)
print(f"{cfg.run_id}: {record.data.description}, {record.schedule.total_iterations} iterations "
      f"({record.schedule.lr_rule}); val mIoU best {record.result.best_miou:.2f} ({record.result.best_network}), "
      f"last {record.result.last_miou:.2f}")

# %% [markdown]
# ## Validation mIoU over the epochs
# Every network the host has (the student, and its EMA teacher where it has one), evaluated by sliding window
# over the whole validation set. The hosts report the best evaluation; both best and last are in the record.

# %%
plots.study_a_curves(record);
