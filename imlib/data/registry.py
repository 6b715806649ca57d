"""Dataset names -> loaders. Synthetic tasks are generated in memory; real datasets (later) are read
from ``data/prepared/<name>``."""
from __future__ import annotations

import torch

from imlib.config import RunConfig
from imlib.data import Dataset, SegData
from imlib.data import synthetic
from imlib.data.task import AugmentConfig, Task

# (task, default alpha, the paper dataset it stands in for). Augmentation is the paper's per dataset, with
# blur kernels scaled down to the small synthetic images (the paper's 3/5/7 px are meant for 256 px).
SYNTHETIC_TASKS: dict[str, tuple[Task, float, str]] = {
    "synthetic-lesion": (Task("binary", 3, 1, ("lesion",), augment=AugmentConfig(blur_kernels=(0, 3))), 0.5,
                         "isic2018"),
    "synthetic-cells": (Task("multilabel", 1, 3, ("alive", "dead", "position"), position_channel=2,
                             alive_channel=0, dead_channel=1,
                             augment=AugmentConfig(contrast=(0.7, 1.3), brightness=15, blur_kernels=(0, 3))),
                        1.0, "hela"),
    "synthetic-scenes": (Task("multiclass", 3, 9, synthetic.SCENE_CLASSES,
                              augment=AugmentConfig(free_rotation=False, blur_kernels=(0, 3))), 1.0, "suim"),
}

DATASETS = tuple(SYNTHETIC_TASKS)


def labeled_split(n: int, fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A seeded permutation; the first ``round(fraction * n)`` (at least 1) images are labeled."""
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    k = max(1, round(fraction * n))
    return perm[:k].sort().values, perm[k:].sort().values


def load_dataset(cfg: RunConfig, device: torch.device | str = "cpu") -> Dataset:
    if cfg.dataset not in SYNTHETIC_TASKS:
        raise ValueError(f"unknown dataset {cfg.dataset!r}; available: {', '.join(DATASETS)}")
    task, alpha, stands_in = SYNTHETIC_TASKS[cfg.dataset]
    s = cfg.image_size
    # disjoint seeds per split so val/test never repeat a training image
    parts = {name: synthetic.generate(cfg.dataset, n, s, cfg.data_seed * 10 + k)
             for k, (name, n) in enumerate((("train", cfg.n_train), ("val", cfg.n_val), ("test", cfg.n_test)))}
    lab, unl = labeled_split(cfg.n_train, cfg.labeled_fraction, cfg.data_seed)
    return Dataset(
        name=cfg.dataset, task=task, default_alpha=alpha, synthetic=True, stands_in_for=stands_in,
        train=SegData(*parts["train"]).to(device), labeled_idx=lab, unlabeled_idx=unl,
        val=SegData(*parts["val"]).to(device), test=SegData(*parts["test"]).to(device),
        provenance={"source": "imlib.data.synthetic (procedurally generated)",
                    "generator_version": synthetic.GENERATOR_VERSION, "data_seed": cfg.data_seed,
                    "image_size": s, "stands_in_for": stands_in},
    )
