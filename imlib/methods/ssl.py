"""Study B's semi-supervised baselines, trained from scratch on the paper's U-Net.

Each baseline is an :class:`~imlib.engine.Objective` in its own module (fixmatch, unimatch,
crossmatch, fpl, imas, u2pl) over the shared pieces of ``imlib.semi``; this module trains
``cfg.ssl_models`` models of one of them and ranks them on validation like the references.
Hyperparameters: each class's ``DEFAULTS`` (the book lists them with the reasons); any of them can
be overridden with ``extra={"options": {...}}``.
"""
from __future__ import annotations

from imlib.methods.common import Context
from imlib.methods.crossmatch import CrossMatch
from imlib.methods.fixmatch import FixMatch
from imlib.methods.fpl import FPL
from imlib.methods.imas import IMAS
from imlib.methods.u2pl import U2PL
from imlib.methods.unimatch import UniMatch

OBJECTIVES = {"fixmatch": FixMatch, "fpl": FPL, "crossmatch": CrossMatch, "imas": IMAS, "u2pl": U2PL,
              "unimatch": UniMatch}


def run(ctx: Context) -> list[dict]:
    cfg = ctx.cfg
    cls = OBJECTIVES[cfg.method]
    options = dict(cfg.extra.get("options", {}))
    labeled, unlabeled = ctx.ds.labeled, ctx.ds.unlabeled.images

    def objective():
        return cls(labeled, unlabeled, ctx.task, cfg.batch_size, options)

    objective()  # fail on bad options before any training
    ranked = ctx.rank(ctx.train_members(cfg.method, objective, cfg.ssl_models, reference=False))
    return [ctx.generation_entry(0, ranked, train_images=len(labeled) + len(unlabeled),
                                 hyperparameters={**cls.DEFAULTS, **options})]


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


def hyperparameter_table():
    """Every baseline's hyperparameters with the reason for each value (rendered in the book)."""
    import pandas as pd

    rows = [{"method": "all", "parameter": k, "value": v, "why": w} for k, v, w in SHARED_SETTINGS]
    for name, cls in OBJECTIVES.items():
        for k, v in cls.DEFAULTS.items():
            rows.append({"method": name, "parameter": k, "value": str(v), "why": cls.WHY.get(k, "")})
    return pd.DataFrame(rows)
