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
    order = {"split": {s: i for i, s in enumerate(SPLITS)},
             "method": {m: i for i, m in enumerate(dict.fromkeys(rep.method))}}  # the paper's order
    return wide.sort_values(["method", "split"], key=lambda s: s.map(order[s.name])).reset_index(drop=True)


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


# --- Tables for the book: the paper's table and this project's runs apart --------------------------------

SPLIT_LABELS = {"1/16": "1/16 (186)", "1/8": "1/8 (372)", "1/4": "1/4 (744)", "1/2": "1/2 (1488)"}  # labeled images


def host_label(method: str, backbone: str) -> str:
    return f"{method} · {backbone}"


def paper_table(paper_dir: Path = PAPER_DIR) -> pd.DataFrame:
    """The paper's reported mIoU (%) as a table that fits a page: per host (method · backbone, in the
    paper's order) three rows, without IM, with IM and the gain in mIoU points; one column per split (the
    labeled images in brackets)."""
    comp = comparison([], paper_dir)
    rep = reported(paper_dir)
    hosts = list(dict.fromkeys(host_label(m, b) for m, b in zip(rep.method, rep.backbone)))  # the paper's order
    comp["host"] = [host_label(m, b) for m, b in zip(comp.method, comp.backbone)]
    rows = ("without IM", "with IM", "gain")
    long = comp.rename(columns={"IM gain": "gain"}).melt(id_vars=["host", "split"], value_vars=list(rows),
                                                          var_name="row", value_name="miou")
    wide = long.pivot(index=["host", "row"], columns="split", values="miou")
    wide = wide.reindex(pd.MultiIndex.from_product([hosts, rows], names=["host", ""]))[list(SPLITS)]
    wide.columns = pd.Index([SPLIT_LABELS[s] for s in SPLITS], name="split (labeled images)")
    return wide


def reproduced_table(records: list[StudyARecord], variant: str = "G") -> pd.DataFrame:
    """This project's Study A runs alone, shaped like :func:`paper_table`: per host two rows, without IM and
    with IM of ``variant`` (each with its preset and data where the records hold several), one column per
    split that has runs; a cell is the best validation mIoU (%), mean over seeds ± the half-width of the
    95 % t interval, with the number of seeds; † the smoke preset or a synthetic stand-in (a code check)."""
    mine = cells(records, variant)
    if mine.empty:
        return pd.DataFrame()
    text = [f"{m:.1f}" + (f" ± {h:.1f}" if n > 1 else "") + (" †" if marked else "") + f" (n={n})"
            for m, h, n, marked in zip(mine["mean"], mine.half_width, mine.seeds, mine.marked)]
    several = mine[["preset", "dataset"]].drop_duplicates().shape[0] > 1
    rows = [("with IM" if p else "without IM") + (f" ({pr}, {d})" if several else "")
            for p, pr, d in zip(mine.plus_im, mine.preset, mine.dataset)]
    mine = mine.assign(text=text, row=rows, order=[int(p) for p in mine.plus_im])
    hosts = list(dict.fromkeys(reported().method))  # the paper's order
    mine = mine.sort_values(["method", "preset", "dataset", "order"], kind="stable",
                            key=lambda c: c.map(lambda v: hosts.index(v) if v in hosts else len(hosts))
                            if c.name == "method" else c)
    splits = [s for s in SPLITS if s in set(mine.split)]
    wide = mine.pivot(index=["method", "row"], columns="split", values="text")
    wide = wide.reindex(list(dict.fromkeys(zip(mine.method, mine.row))))[splits].fillna("not run")
    wide.index.names = ["host", ""]
    wide.columns = pd.Index([SPLIT_LABELS[s] for s in splits], name="split (labeled images)")
    return wide


def format_variants(frame: pd.DataFrame) -> pd.DataFrame:
    """:func:`variants_table` for reading on a page: one row per host and plug-in variant (in the paper's
    order), readable headings, the mask's share in %; the data, preset, device and commit left out (they
    go in the caption: :func:`provenance_line`)."""
    if frame.empty:
        return frame
    order = {h: i for i, h in enumerate(dict.fromkeys(reported().method))}  # the paper's order
    frame = frame.sort_values("method", key=lambda m: m.map(lambda v: order.get(v, len(order))), kind="stable")
    short = {"+IM (G: IM as data)": "+IM (G)", "+IM (M: masked losses)": "+IM (M)", "+IM (O: online)": "+IM (O)"}
    out = pd.DataFrame({
        "host": frame.method, "plug-in": frame.plug_in.map(lambda v: short.get(v, v)), "split": frame.split,
        "seeds": frame.seeds, "best mIoU %": frame.best_miou, "last mIoU %": frame.last_miou,
        "masked % of unlabeled pixels": (frame.im_fraction * 100).round(1),
        "iterations": frame.iterations, "s / iteration": frame.s_per_iteration})
    return out.set_index(["host", "plug-in"])


def provenance_line(records: list[StudyARecord]) -> str:
    """Where a set of Study A runs came from, in one line: presets, data, devices, commits."""
    frame = runs(records)
    if frame.empty:
        return "no runs"

    def joined(col):
        return ", ".join(sorted(set(frame[col].astype(str))))

    return (f"preset {joined('preset')}; data {joined('dataset')}; device {joined('device')}; "
            f"commit {joined('commit')}")
