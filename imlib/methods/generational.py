"""The generational self-training loop shared by Model Ensemble and IM, as the authors' code runs it.

Generation 0 is the run's LDT models. In every generation g >= 1 the top-n models of generation
g - 1 (ranked on validation) are the teachers; they label every unlabeled image once; a
method-specific rule turns their predictions into (image, pseudo-label) pairs; K students are trained from
scratch on those pairs plus the labeled set (added once, no oversampling); the top-n students become
the next teachers.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch

from imlib.data import SegData
from imlib.engine import predict_probs
from imlib.methods.shared import Run, TrainedModel
from imlib.records import EncodedArray, GenerationRecord, PseudoLabelStats, Showcase


class Pairs(NamedTuple):
    """What a rule makes of a chunk of unlabeled images."""

    images: torch.Tensor  #: (B, C, H, W) uint8: the students' inputs (IM pixels blacked out for IM)
    labels: torch.Tensor  #: (B, L, H, W) uint8: the pseudo-labels
    mask: torch.Tensor  #: (B, H, W) bool: the inconsistency mask (all False for Model Ensemble)
    keep: torch.Tensor  #: (B,) bool: the pairs the students train on (the rest fail the image filter)


# (teacher probabilities (n, B, C, H, W), images (B, C, H, W)) -> Pairs
PairRule = Callable[[torch.Tensor, torch.Tensor], Pairs]

SHOWCASE = 3  # unlabeled images whose mask and pseudo-label every generation records (for figures)


def build_pairs(run: Run, teachers: list[TrainedModel], rule: PairRule, chunk: int = 64) -> tuple[SegData, PseudoLabelStats]:
    """Pseudo-labeled pairs for every unlabeled image, in chunks (teacher outputs never all in memory),
    statistics of their quality against the hidden true labels (diagnostics only), and the mask and
    pseudo-label of the first ``SHOWCASE`` unlabeled images (before filtering) for the figures."""
    unlabeled = run.dataset.unlabeled
    images, labels = [], []
    showcase = None
    masked = agree = counted = kept = 0
    for start in range(0, len(unlabeled), chunk):
        x, truth = unlabeled.images[start:start + chunk], unlabeled.labels[start:start + chunk]
        probs = torch.stack([predict_probs(t.network, x, run.task, amp=run.cfg.amp) for t in teachers])
        pairs = rule(probs, x)
        if start == 0:
            k = min(SHOWCASE, len(x))
            showcase = Showcase(list(range(k)), EncodedArray.encode(pairs.mask[:k]),
                                EncodedArray.encode(pairs.labels[:k]), pairs.keep[:k].tolist())
        keep = pairs.keep
        x_kept, y_kept, mask, truth = pairs.images[keep], pairs.labels[keep], pairs.mask[keep], truth[keep]
        images.append(x_kept)
        labels.append(y_kept)
        kept += int(keep.sum())
        masked += int(mask.sum())
        counted += mask.numel()
        outside = ~mask[:, None].expand_as(y_kept)
        agree += int(((y_kept == truth) & outside).all(1).sum())
    stats = PseudoLabelStats(unlabeled=len(unlabeled), kept=kept, mask_fraction=masked / max(counted, 1),
                             pseudo_label_accuracy=agree / max(counted - masked, 1), showcase=showcase)
    return SegData(torch.cat(images), torch.cat(labels)), stats


def run_generations(run: Run, rule: PairRule) -> list[GenerationRecord]:
    cfg = run.cfg
    ldt = run.rank(run.train_models("ldt", run.supervised(run.dataset.labeled), cfg.n_models, scope="reference"))
    generations = [run.generation_record(0, ldt, role="teachers (LDT)")]
    teachers = ldt[: cfg.n_teachers]
    for g in range(1, cfg.generations + 1):
        pairs, stats = build_pairs(run, teachers, rule)
        data = SegData.cat([pairs, run.dataset.labeled])
        students = run.rank(run.train_models(f"{cfg.method}-g{g}", run.supervised(data), cfg.n_students,
                                             scope="method"))
        generations.append(run.generation_record(g, students, teachers=[t.name for t in teachers],
                                                 train_images=len(data), pseudo_labels=stats))
        teachers = students[: cfg.n_teachers]
    return generations
