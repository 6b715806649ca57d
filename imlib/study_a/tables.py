"""Study A tables: the paper's reported mIoU beside what the Study A run records give.

A reproduced cell is the mean over seeds of each run's best validation mIoU (what the hosts report; the
last evaluation is kept beside it), with its 95 % Student-t interval, labelled with its preset and data.
Runs on the synthetic stand-in or at the smoke preset are marked † and never compared with the paper's
numbers: they check the code, they do not reproduce anything.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from imlib.methods import registry
from imlib.paths import PAPER_DIR
from imlib.stats import mean_interval
from imlib.study_a.records import StudyARecord

SPLITS = ("1/16", "1/8", "1/4", "1/2")


def reported(paper_dir: Path = PAPER_DIR) -> pd.DataFrame:
    path = Path(paper_dir) / "study_a_reported.csv"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: the paper's reported Study A numbers belong there")
    return pd.read_csv(path)


def runs(records: list[StudyARecord]) -> pd.DataFrame:
    """One row per run record."""
    rows = []
    for r in records:
        spec = registry.get_method(r.config.host, "a")
        rows.append({"host": r.config.host, "method": spec.paper_row or spec.name, "plus_im": r.config.plugin == "im",
                     "variant": r.config.variant, "split": r.config.split, "seed": r.config.seed,
                     "preset": r.config.preset, "dataset": r.data.name, "synthetic": r.data.synthetic,
                     "best_miou": r.result.best_miou, "last_miou": r.result.last_miou,
                     "best_network": r.result.best_network, "im_fraction": r.plugin.im_fraction if r.plugin else None,
                     "iterations": r.schedule.total_iterations, "s_per_iteration": r.timing.s_per_iteration,
                     "device": str(r.environment.device), "commit": r.environment.git_commit[:7]})
    return pd.DataFrame(rows)


def _cell(group: pd.DataFrame) -> pd.Series:
    best, last = mean_interval(group.best_miou.tolist()), mean_interval(group.last_miou.tolist())
    mean, half, n = best.mean, best.half_width, best.n
    marked = bool(group.synthetic.any() or (group.preset != "paper").any())
    spread = f" ± {half:.1f}" if n > 1 else ""
    text = f"{mean:.1f}{spread}{' †' if marked else ''} ({', '.join(sorted(set(group.preset)))}, {n} seed{'s' * (n > 1)})"
    return pd.Series({"mean": mean, "half_width": half, "last_mean": last.mean, "seeds": n, "marked": marked,
                      "text": text, "devices": ", ".join(sorted(set(group.device))),
                      "commits": ", ".join(sorted(set(group.commit)))})


def cells(records: list[StudyARecord], variant: str = "G") -> pd.DataFrame:
    """Reproduced cells per (method, split, plus_im, preset, dataset): without IM, and with IM of ``variant``."""
    frame = runs(records)
    if frame.empty:
        return frame
    frame = frame[(frame.variant == "none") | (frame.variant == variant)]
    keys = ["method", "split", "plus_im", "preset", "dataset"]
    return pd.DataFrame([{**dict(zip(keys, key)), **_cell(group)} for key, group in frame.groupby(keys)])


def comparison(records: list[StudyARecord], paper_dir: Path = PAPER_DIR, variant: str = "G") -> pd.DataFrame:
    """The reported table (without IM, with IM, the gain) with the reproduced cells beside it: per (method,
    split) the first preset/dataset found, 'not run' where no record exists."""
    rep = reported(paper_dir)
    wide = rep.pivot_table(index=["group", "method", "backbone", "split"], columns="plus_im", values="miou").reset_index()
    wide.columns.name = None
    wide = wide.rename(columns={False: "without IM", True: "with IM"})
    wide["IM gain"] = wide["with IM"] - wide["without IM"]
    mine = cells(records, variant)
    for plus_im, col in ((False, "reproduced without IM"), (True, "reproduced with IM")):
        found = {} if mine.empty else {(m, s): t for m, s, p, t in zip(mine.method, mine.split, mine.plus_im, mine.text)
                                       if p == plus_im}
        wide[col] = [found.get((m, s), "not run") for m, s in zip(wide.method, wide.split)]
    order = {s: i for i, s in enumerate(SPLITS)}
    return wide.sort_values(["group", "method", "split"], key=lambda s: s.map(order) if s.name == "split" else s,
                            ascending=[False, True, True]).reset_index(drop=True)


def variants_table(records: list[StudyARecord]) -> pd.DataFrame:
    """Every host x plug-in variant the records hold: best and last mIoU over seeds, the mask's share, the
    cost (the smoke batch's table: a code check, not a result)."""
    frame = runs(records)
    if frame.empty:
        return frame
    names = {"none": "without IM", "G": "+IM (G: IM as data)", "M": "+IM (M: masked losses)", "O": "+IM (O: online)"}
    out = (frame.assign(plug_in=frame.variant.map(names))
           .groupby(["method", "plug_in", "split", "preset", "dataset"], sort=False)
           .agg(seeds=("seed", "nunique"), best_miou=("best_miou", "mean"), last_miou=("last_miou", "mean"),
                im_fraction=("im_fraction", "mean"), iterations=("iterations", "first"),
                s_per_iteration=("s_per_iteration", "mean"), device=("device", "first"), commit=("commit", "first"))
           .reset_index())
    return out.round({"best_miou": 1, "last_miou": 1, "im_fraction": 3, "s_per_iteration": 3})
