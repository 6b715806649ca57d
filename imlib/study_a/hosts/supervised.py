"""Supervised only: UniMatch's ``supervised.py`` recipe, OHEM CE on the labeled images and nothing else.

An epoch is a pass over the labeled list (the engine reads ``uses_unlabeled``). The README's batch for the
supervised baselines is twice the semi-supervised labeled batch (4 per GPU x 4). Variant G ("Supervised
Only + IM") is plain supervised training on GT ∪ IM pairs; M and O have no unsupervised term to change.
"""
from __future__ import annotations

import torch

from imlib.study_a.batches import LabeledBatch, UnlabeledBatch
from imlib.study_a.hosts.base import Host
from imlib.study_a.recipe import HostRecipe


class Supervised(Host):
    key = "supervised"
    name = "Supervised"
    uses_unlabeled = False
    RECIPE = HostRecipe(lr=0.005, weight_decay=1e-4, head_lr_multiplier=1.0, total_batch=16, crop=800, epochs=240,
                        ohem_min_kept=200000, output_stride=16, atrous_rates=(6, 12, 18), eval_window=800,
                        eval_stride=528, source="LiheYoung/UniMatch supervised.py, configs/cityscapes.yaml, "
                                            "util/ohem.py, README (doubled batch for the supervised baseline)")

    def loss(self, labeled: LabeledBatch, unlabeled: UnlabeledBatch | None, partner: UnlabeledBatch | None,
             step: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        sup = self.supervised(self.forward(labeled.image), labeled.label)
        return sup, {"sup": sup.detach()}
