"""The supervised reference points of Study B: LDT, ALDT, FDT, AFDT.

* LDT: the labeled 10 % only.
* ALDT: the labeled set + 9 augmented copies of each image.
* FDT: the full training set.
* AFDT: the full set + 9 augmented copies (by analogy with ALDT: the paper names AFDT but does not
  define it).

The copies are made once per run with the paper's offline augmentation (batched on the device).
"""
from __future__ import annotations

from imlib.data import SegData
from imlib.data.augment import augmented_copies
from imlib.methods.shared import Run
from imlib.records import GenerationRecord

# reference -> (trains on the full training set?, with augmented copies?)
REFERENCES = {"ldt": (False, False), "aldt": (False, True), "fdt": (True, False), "afdt": (True, True)}


def reference_data(run: Run, reference: str) -> SegData:
    if reference not in REFERENCES:
        raise ValueError(f"unknown reference {reference!r}; expected one of {tuple(REFERENCES)}")
    full, augmented = REFERENCES[reference]
    base = run.dataset.train if full else run.dataset.labeled
    if augmented:
        return SegData(*augmented_copies(base.images, base.labels, run.task.augment, run.cfg.aug_copies,
                                         seed=run.cfg.data_seed))
    return base


def run(run: Run) -> list[GenerationRecord]:
    data = reference_data(run, run.cfg.method)
    ranked = run.rank(run.train_models(run.cfg.method, run.supervised(data), run.cfg.n_models, scope="reference"))
    return [run.generation_record(0, ranked, train_images=len(data))]
