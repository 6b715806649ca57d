"""What Study A costs: iterations per run from each host's recipe, and GPU-hours from a measured step time.

The iteration count follows the hosts' data loaders: epochs x floor(ceil(N / GPUs) / batch
per GPU), N being the length of the unlabeled list (Supervised: the labeled one). The time of a run is its iterations
times the measured seconds per iteration on one GPU at the host's per-GPU batch, plus the sliding-window
evaluations; GPU-hours multiply by the host's GPU count (communication between GPUs is not counted).
"""
from __future__ import annotations

import math

import pandas as pd

from imlib.study_a.recipe import HostRecipe

CITYSCAPES_TRAIN, CITYSCAPES_VAL = 2975, 500
LABELED = {"1/16": 186, "1/8": 372, "1/4": 744, "1/2": 1488}  # U2PL's splits
FULL_IMAGE = (1024, 2048)


def iterations(recipe: HostRecipe, split: str, uses_unlabeled: bool = True) -> int:
    labeled = LABELED[split]
    walk = CITYSCAPES_TRAIN - labeled if uses_unlabeled else labeled
    return recipe.epochs * (math.ceil(walk / recipe.gpus) // (recipe.total_batch // recipe.gpus))


def windows_per_image(recipe: HostRecipe, size: tuple[int, int] = FULL_IMAGE) -> int:
    """Full windows shifted inside the image (the last one flush with the border)."""
    return math.prod(math.ceil(max(s - recipe.eval_window, 0) / recipe.eval_stride) + 1 for s in size)


def run_hours(recipe: HostRecipe, split: str, uses_unlabeled: bool, s_per_iteration: float, s_per_window: float,
              eval_every: int = 1) -> tuple[float, float]:
    """(wall hours, GPU-hours) of one run on the host's GPUs: training plus an evaluation every ``eval_every``
    epochs (the validation images shared among the GPUs)."""
    train = iterations(recipe, split, uses_unlabeled) * s_per_iteration
    evals = math.ceil(recipe.epochs / eval_every)
    evaluate = evals * windows_per_image(recipe) * math.ceil(CITYSCAPES_VAL / recipe.gpus) * s_per_window
    wall = (train + evaluate) / 3600
    return wall, wall * recipe.gpus


def cost_table(measured: list[dict], eval_every: int = 1) -> pd.DataFrame:
    """One row per (host, precision, split) from the throughput probe's measurements (``host``, ``precision``,
    ``s_per_iteration``, ``s_per_window``, ``peak_memory_gib``, ``device``, ``crop``, ``batch_per_gpu``)."""
    from imlib.methods.registry import get_method

    rows = []
    for m in measured:
        spec = get_method(m["host"], "a")
        recipe = spec.objective.RECIPE
        for split in LABELED:
            wall, gpu_h = run_hours(recipe, split, spec.objective.uses_unlabeled, m["s_per_iteration"],
                                    m["s_per_window"], eval_every)
            rows.append({"host": spec.name, "precision": m["precision"], "split": split,
                         "iterations": iterations(recipe, split, spec.objective.uses_unlabeled),
                         "GPUs": recipe.gpus, "s/iteration": m["s_per_iteration"],
                         "peak memory GiB/GPU": m.get("peak_memory_gib"), "wall h": wall, "GPU-h per run": gpu_h,
                         "GPU-h per cell (2 teachers + IM student)": 3 * gpu_h, "device": m["device"]})
    return pd.DataFrame(rows)
