"""What a dataset holds: which datasets are available, split sizes, class frequencies, sample images
(for the book's datasets gallery)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from imlib.data import Dataset
from imlib.data.registry import SYNTHETIC_TASKS


def available_datasets(prepared_dir: str | Path) -> list[str]:
    """The synthetic tasks, then every dataset prepared under ``prepared_dir`` for the U-Net (a manifest and
    its split arrays; Study A's full-resolution file lists are not shown here)."""
    base = Path(prepared_dir)
    prepared = (sorted(p.name for p in base.iterdir() if (p / "manifest.json").exists() and (p / "labeled.npz").exists())
                if base.is_dir() else [])
    return list(SYNTHETIC_TASKS) + prepared


def split_sizes(ds: Dataset) -> pd.DataFrame:
    """One row: the number of images per split, the image size in pixels and where the data comes from."""
    size = "×".join(map(str, ds.test.images.shape[-2:]))
    return pd.DataFrame([{"dataset": ds.name, **ds.sizes(), "image size (px)": size,
                          "data": "synthetic stand-in for " + ds.stands_in_for if ds.synthetic else "real"}])


def class_frequencies(ds: Dataset) -> pd.DataFrame:
    """Share of pixels per class (multi-class) or per positive channel (binary, multi-label) in the
    training set's true labels (ignored pixels left out), validation and test."""
    task, rows = ds.task, []
    for part, data in (("train", ds.train), ("val", ds.val), ("test", ds.test)):
        lab = data.labels.cpu().numpy()
        if task.kind == "multiclass":
            vals = lab[:, 0][lab[:, 0] != task.ignore_index]
            counts = np.bincount(vals.ravel(), minlength=task.num_outputs)[: task.num_outputs]
            shares = counts / max(counts.sum(), 1)
        else:
            valid = lab != task.ignore_index
            shares = ((lab == 1) & valid).sum((0, 2, 3)) / np.maximum(valid.sum((0, 2, 3)), 1)
        rows.append({"split": part, **{name: 100 * float(s) for name, s in zip(task.class_names, shares)}})
    return pd.DataFrame(rows).set_index("split")


def class_table(ds: Dataset):
    """:func:`class_frequencies` for the page: one row per class or channel, one column per split, in %
    with one decimal, captioned with the dataset and where it comes from."""
    origin = f"synthetic stand-in for {ds.stands_in_for}" if ds.synthetic else "real data"
    what = "class" if ds.task.kind == "multiclass" else "positive channel"
    from imlib.tables import styled

    table = class_frequencies(ds).T.rename_axis(None).rename_axis(None, axis=1)
    return styled(table, caption=f"{ds.name} ({origin}): % of labeled pixels per {what}", precision=1)


def samples(ds: Dataset, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The first ``n`` labeled training images and their labels, as numpy arrays for the figures."""
    lab = ds.labeled
    return lab.images[:n].cpu().numpy(), lab.labels[:n].cpu().numpy()
