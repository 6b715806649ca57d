"""Study B's semi-supervised baselines, trained from scratch on the paper's U-Net.

Each baseline is an :class:`~imlib.engine.Objective` in its own module (fixmatch, unimatch,
crossmatch, fpl, imas, u2pl) over the shared pieces of ``imlib.semi``; :func:`runner` makes the run
function of one of them: ``cfg.ssl_models`` models, ranked on validation like the references.
Hyperparameters: each class's ``OPTIONS`` (declared with their reasons; the book lists them), overridden
per run with ``options``.
"""
from __future__ import annotations

from collections.abc import Callable

from imlib.methods.shared import Run
from imlib.records import GenerationRecord
from imlib.semi.objective import SemiObjective


def runner(objective: type[SemiObjective]) -> Callable[[Run], list[GenerationRecord]]:
    """The run function of a semi-supervised baseline."""

    def run(run: Run) -> list[GenerationRecord]:
        labeled, unlabeled = run.dataset.labeled, run.dataset.unlabeled.images

        def make_objective() -> SemiObjective:
            return objective(labeled, unlabeled, run.task, run.cfg.batch_size, run.options)

        make_objective()  # fail on bad options or empty sets before any training
        ranked = run.rank(run.train_models(run.cfg.method, make_objective, run.cfg.ssl_models, scope="method"))
        return [run.generation_record(0, ranked, train_images=len(labeled) + len(unlabeled))]

    return run


# settings every baseline shares with the references in Study B (chosen, not published; see the book)
SHARED_SETTINGS = [
    ("network", "the paper's 1x1 U-Net (alpha as the references)", "the study's premise: one lightweight "
     "model, from scratch, for every method"),
    ("optimiser", "AdamW, lr 3e-3, decoupled weight decay 1e-4 (TF scale), constant", "the paper's optimiser "
     "for every model it trains; SGD with poly decay (the baselines' own) assumes a pre-trained backbone"),
    ("batch", "32 labeled + 32 unlabeled", "the paper's batch size for the labeled half; UniMatch's equal halves"),
    ("epoch", "one pass over the unlabeled set, 50 epochs", "UniMatch/U2PL's epoch; 50 as the paper's models"),
    ("supervised loss", "the paper's task loss (MSE on sigmoid / CE)", "the same labeled signal as LDT, so "
     "differences come from the unlabeled images (no OHEM, no auxiliary head)"),
    ("selection", "best validation epoch of the evaluated network (EMA teacher for U2PL, iMAS, FPL)",
     "the references' checkpoint rule; U2PL and iMAS evaluate their teacher"),
    ("models per run", "3 (paper preset), 1 (smoke); top-1 on validation reported", "the references' rule at lower cost"),
]
