"""Material for the figure notebooks: teachers, one worked IM example, a run's generation showcase.

Kept out of the notebooks so they stay thin (parameters, a call, a figure) and so tests cover it.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from imlib.config import make_config
from imlib.data.task import Task
from imlib.engine import predict_labels, predict_probs
from imlib.im import apply_im, inconsistency_mask
from imlib.methods.shared import Run, TrainedModel
from imlib.paths import PROJECT_ROOT, project_path
from imlib.records import RunRecord


def teachers(dataset: str, n: int = 2, seed: int = 0, preset: str = "smoke", work_dir: str = "data/work",
             progress: bool = False, **overrides) -> tuple[Run, list[TrainedModel]]:
    """The run's top-n LDT models (trained now, or reused from ``work_dir`` if a batch trained them);
    a relative ``work_dir`` is under the project root (:func:`imlib.paths.project_path`)."""
    cfg = make_config(preset, dataset=dataset, method="ldt", seed=seed, work_dir=str(project_path(work_dir)),
                      **{"n_models": max(n, 2), "n_teachers": 2, **overrides})
    run = Run(cfg, progress=progress)
    models = run.rank(run.train_models("ldt", run.supervised(run.dataset.labeled), cfg.n_models, scope="reference"))
    return run, models[:n]


def teachers_line(run: Run, models: list[TrainedModel]) -> str:
    """Where the teachers of a figure come from, in three short lines: how many, trained now (on which
    device) or reused; the data, preset and seed; the commit."""
    from imlib.provenance import git_commit

    cfg, ds = run.cfg, run.dataset
    data = f"synthetic stand-in for {ds.stands_in_for}" if ds.synthetic else "real data"
    work = Path(cfg.work_dir)
    work = work.relative_to(PROJECT_ROOT) if work.is_relative_to(PROJECT_ROOT) else work
    how = f"reused from {work}" if all(m.reused for m in models) else f"trained now on {run.device.type}"
    return (f"teachers: {len(models)} LDT models ({', '.join(m.name for m in models)}), {how}\n"
            f"data:     {cfg.dataset} ({data}), preset {cfg.preset}, seed {cfg.seed}\n"
            f"commit:   {git_commit()[:12]}")


@dataclass
class IMExample:
    """One worked IM example as numpy arrays for a figure: image, truth, each teacher's label, mask and result."""

    image: np.ndarray  # (C, H, W) uint8
    truth: np.ndarray  # (L, H, W) the hidden ground truth
    teacher_labels: list[np.ndarray]  # each teacher's discretised prediction (L, H, W)
    label: np.ndarray  # the pseudo-label after masking (L, H, W)
    mask: np.ndarray  # (H, W) bool
    blacked: np.ndarray  # the student's input (C, H, W)


def im_example(run: Run, models: list[TrainedModel], index: int) -> IMExample:
    """IM on one unlabeled image of ``run``'s dataset with the given teachers."""
    x = run.dataset.unlabeled.images[index:index + 1]
    probs = torch.stack([predict_probs(m.network, x, run.task) for m in models])
    res = inconsistency_mask(probs, run.task)
    blacked, label = apply_im(x, res.label, res.mask, run.task)
    own = [predict_labels(m.network, x, run.task)[0].cpu().numpy() for m in models]
    return IMExample(x[0].cpu().numpy(), run.dataset.unlabeled.labels[index].cpu().numpy(), own,
                     label[0].cpu().numpy(), res.mask[0].cpu().numpy(), blacked[0].cpu().numpy())


def worked_example(dataset: str, seed: int = 0, work_dir: str = "data/work",
                   **overrides) -> tuple[Run, list[TrainedModel], IMExample]:
    """Two teachers of ``dataset`` (:func:`teachers`) and IM on a typical unlabeled image
    (:func:`typical_example`): the material of the IM creation page."""
    run, models = teachers(dataset, n=2, seed=seed, work_dir=work_dir, **overrides)
    return run, models, im_example(run, models, typical_example(run, models))


def typical_example(run: Run, models: list[TrainedModel], candidates: int = 32, quantile: float = 0.75) -> int:
    """Index of an instructive unlabeled image (among the first ``candidates``): of those where the
    teachers agree on some foreground, the one whose mask size is at the given quantile. (The largest
    mask is usually a degenerate case where one teacher fails outright.)"""
    x = run.dataset.unlabeled.images[:candidates]
    probs = torch.stack([predict_probs(m.network, x, run.task) for m in models])
    res = inconsistency_mask(probs, run.task)
    area = res.mask.flatten(1).float().mean(1)
    agreed = res.label.flatten(1).float().mean(1)
    valid = (agreed > 0.02) if run.task.kind != "multiclass" else torch.ones_like(area, dtype=torch.bool)
    idx = torch.nonzero(valid).flatten() if valid.any() else torch.arange(len(area), device=area.device)
    order = idx[area[idx].argsort()]
    return int(order[min(len(order) - 1, int(quantile * len(order)))])


@dataclass
class GenerationShowcase:
    """One showcase image of an IM/ME run: the image and its hidden truth, and per generation the mask
    and pseudo-label its teachers produced."""

    task: Task
    image: np.ndarray  # (C, H, W)
    truth: np.ndarray  # (L, H, W)
    masks: list[np.ndarray]  # per generation (H, W) bool
    labels: list[np.ndarray]  # per generation (L, H, W)


def generation_showcase(record: RunRecord, which: int = 0) -> GenerationShowcase:
    """Showcase image ``which`` of an IM/ME record over its generations (the image itself is regenerated
    or reloaded from the record's dataset)."""
    from imlib.data.registry import load_dataset

    shown = [g.pseudo_labels.showcase for g in record.generations if g.pseudo_labels and g.pseudo_labels.showcase]
    if not shown:
        raise ValueError(f"run {record.run_id} has no generation showcase (not an IM or ME run?)")
    index = shown[0].unlabeled_index[which]
    dataset = load_dataset(record.config)
    unlabeled = dataset.unlabeled
    return GenerationShowcase(dataset.task, unlabeled.images[index].numpy(), unlabeled.labels[index].numpy(),
                              [s.mask.decode()[which].astype(bool) for s in shown],
                              [s.label.decode()[which] for s in shown])


def selected_model(record: RunRecord) -> tuple[Run, torch.nn.Module | None]:
    """The run's dataset and its headline model, or None when its weights are not on this machine
    (records are committed, checkpoints are not)."""
    run = Run(record.config, progress=False)
    checkpoint = record.selected_model().checkpoint
    if not checkpoint or not Path(checkpoint).exists():
        return run, None
    model = run.build().to(run.device)
    model.load_state_dict(torch.load(checkpoint, map_location=run.device, weights_only=True)["state"])
    return run, model.eval()


def generation_table(record: RunRecord) -> pd.DataFrame:
    """Per generation of an IM/ME record (from 1): the unlabeled images its students trained on, the share
    of their pixels inside the mask and how often the pseudo-label outside the mask agrees with the hidden
    truth (a diagnostic the method never sees), in %. Indexed by generation."""
    rows = [{"generation": g.generation, "images kept": g.pseudo_labels.kept,
             "mask (% of pixels)": 100 * g.pseudo_labels.mask_fraction,
             "pseudo-label = truth (% outside the mask)": 100 * g.pseudo_labels.pseudo_label_accuracy}
            for g in record.generations if g.pseudo_labels is not None]
    if not rows:
        raise ValueError(f"run {record.run_id} has no pseudo-label statistics (not an IM or ME run?)")
    return pd.DataFrame(rows).set_index("generation")
