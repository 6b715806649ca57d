"""The Study B table: the paper's reported numbers beside the numbers reproduced from run records.

A reproduced number is the mean (and standard deviation) over seeds of each run's headline test
value (the model and generation chosen on validation). Runs on a synthetic stand-in are shown in the
column of the dataset they stand in for but are marked as such, and get no delta: a synthetic score is
not a reproduction of the paper's number.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

PAPER_DIR = Path(__file__).resolve().parent.parent / "data" / "paper"

# method key -> the paper's row label (in the paper's order)
STUDY_B_METHODS = {
    "ldt": "Labeled Only (LDT)", "aldt": "Aug. Labeled (ALDT)", "fdt": "Full Dataset (FDT)",
    "afdt": "Aug. Full Dataset (AFDT)", "fixmatch": "FixMatch", "fpl": "FPL", "crossmatch": "CrossMatch",
    "imas": "iMAS", "u2pl": "U2PL", "unimatch": "UniMatch", "me": "Model Ensemble (ME)", "im": "IM",
}
# paper dataset -> (column in the reported CSV, metric key in run records, scale to the paper's unit)
STUDY_B_COLUMNS = {
    "isic2018": ("isic2018_iou", "iou", 100.0),
    "hela": ("hela_mcce", "mcce", 1.0),
    "suim": ("suim_miou", "miou", 100.0),
    "cityscapes": ("cityscapes_miou", "miou", 100.0),
}
LOWER_IS_BETTER = {"hela"}


def paper_dataset(record: dict) -> str:
    """The dataset a run counts for: the one a synthetic task stands in for, else its own name (a column
    of the paper's table only when it is in ``STUDY_B_COLUMNS``)."""
    return record["dataset"].get("stands_in_for") or record["dataset"]["name"]


def reported_study_b(paper_dir: Path = PAPER_DIR) -> pd.DataFrame:
    path = Path(paper_dir) / "study_b_reported.csv"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: the paper's reported Study B numbers belong there")
    df = pd.read_csv(path)
    names = set(STUDY_B_METHODS.values())
    unknown = set(df["method"]) - names
    if unknown:
        raise ValueError(f"{path}: unexpected method rows {sorted(unknown)}")
    return df


def study_b_comparison(records: list[dict], paper_dir: Path = PAPER_DIR) -> pd.DataFrame:
    """Tidy comparison: one row per (method, paper dataset) with reported and reproduced values."""
    reported = reported_study_b(paper_dir).set_index("method")
    runs = []
    for r in records:
        c = r["config"]
        if c["study"] != "b" or c["method"] not in STUDY_B_METHODS:
            continue
        target = paper_dataset(r)
        if target not in STUDY_B_COLUMNS:
            continue
        _, metric, scale = STUDY_B_COLUMNS[target]
        runs.append({"method": c["method"], "paper_dataset": target, "dataset": r["dataset"]["name"],
                     "synthetic": bool(r["dataset"]["synthetic"]), "preset": c["preset"], "seed": c["seed"],
                     "value": r["result"]["test"][metric] * scale,
                     "device": r["environment"]["device"]["type"], "commit": r["environment"]["git_commit"]})
    runs = pd.DataFrame(runs, columns=["method", "paper_dataset", "dataset", "synthetic", "preset", "seed",
                                       "value", "device", "commit"])
    rows = []
    for key, name in STUDY_B_METHODS.items():
        for ds, (col, metric, _) in STUDY_B_COLUMNS.items():
            mine = runs[(runs.method == key) & (runs.paper_dataset == ds)]
            row = {"method": key, "paper_method": name, "paper_dataset": ds, "metric": metric,
                   "lower_is_better": ds in LOWER_IS_BETTER, "reported": float(reported.loc[name, col])}
            for (dataset, synthetic, preset), grp in mine.groupby(["dataset", "synthetic", "preset"]):
                rows.append({**row, "dataset": dataset, "synthetic": synthetic, "preset": preset,
                             "reproduced": grp.value.mean(), "std": grp.value.std(ddof=1) if len(grp) > 1 else 0.0,
                             "seeds": len(grp), "devices": ",".join(sorted(set(grp.device))),
                             "commits": ",".join(sorted(set(grp.commit))),
                             "delta": None if synthetic else grp.value.mean() - row["reported"]})
            if mine.empty:
                rows.append({**row, "dataset": None, "synthetic": None, "preset": None, "reproduced": None,
                             "std": None, "seeds": 0, "devices": None, "commits": None, "delta": None})
    return pd.DataFrame(rows)


PAPER_NAMES = {"isic2018": "ISIC 2018", "hela": "HeLa", "suim": "SUIM", "cityscapes": "Cityscapes"}


def format_study_b(comp: pd.DataFrame) -> pd.DataFrame:
    """Wide, printable: one row per method; per paper dataset the reported value and this project's
    (mean ± std over seeds, Δ only for real data). The column header names the dataset that was run;
    † marks a synthetic stand-in."""
    out = {}
    for ds in STUDY_B_COLUMNS:
        part = comp[comp.paper_dataset == ds]
        ran = part.dropna(subset=["reproduced"])
        if ran.empty and ds == "cityscapes":
            continue
        unit = "MCCE ↓" if ds in LOWER_IS_BETTER else ("IoU %" if ds == "isic2018" else "mIoU %")
        runs = sorted({f"{d}{' †' if s else ''}, {p}" for d, s, p in zip(ran.dataset, ran.synthetic, ran.preset)})
        head = f"{PAPER_NAMES[ds]} · {unit}"
        rep, mine = {}, {}
        for _, r in part.iterrows():
            rep[r.paper_method] = f"{r.reported:.1f}"
            if pd.isna(r.reproduced):
                mine.setdefault(r.paper_method, "not run")
                continue
            val = f"{r.reproduced:.1f}" + (f" ± {r['std']:.1f}" if r.seeds > 1 else "") + (" †" if r.synthetic else "")
            mine[r.paper_method] = val + ("" if pd.isna(r.delta) else f" (Δ {r.delta:+.1f})")
        out[(head, "paper")] = rep
        out[(head, "this project: " + ("; ".join(runs) if runs else "—"))] = mine
    df = pd.DataFrame(out).reindex(list(STUDY_B_METHODS.values()))
    df.columns = pd.MultiIndex.from_tuples(df.columns)
    df.index.name = "method"
    return df


def own_datasets_table(records: list[dict]) -> pd.DataFrame:
    """Runs on datasets that are not the paper's (people's own, prepared with ``imlib prepare folder``): one
    row per method (in the paper's order), one column per dataset and preset with the headline test value
    as mean ± std over seeds, in % for IoU-like metrics; no paper column, since the paper has none."""
    values: dict[tuple[str, str], list[float]] = {}
    for r in records:
        c = r["config"]
        if c["study"] != "b" or paper_dataset(r) in STUDY_B_COLUMNS:
            continue
        metric = r["task"]["metric"]
        scale = 1.0 if metric == "mcce" else 100.0
        arrow = "↑" if r["task"]["higher_is_better"] else "↓"
        head = f"{r['dataset']['name']} · {metric}{' %' if scale == 100 else ''} {arrow} ({c['preset']})"
        values.setdefault((c["method"], head), []).append(r["result"]["test"][metric] * scale)
    if not values:
        return pd.DataFrame()
    table: dict[str, dict[str, str]] = {}
    for (method, head), v in values.items():
        v = pd.Series(v)
        text = f"{v.mean():.1f}" + (f" ± {v.std(ddof=1):.1f} (n={len(v)})" if len(v) > 1 else " (n=1)")
        table.setdefault(head, {})[STUDY_B_METHODS.get(method, method)] = text
    order = [m for m in STUDY_B_METHODS.values() if any(m in col for col in table.values())]
    order += sorted({m for col in table.values() for m in col} - set(order))
    df = pd.DataFrame(table).reindex(order).fillna("not run")
    df.index.name = "method"
    return df[sorted(df.columns)]


def generation_frame(records: list[dict]) -> pd.DataFrame:
    """Per run and generation: the top-1 model's test value in the paper's unit (Study B records)."""
    rows = []
    for r in records:
        c = r["config"]
        target = paper_dataset(r)
        if c["study"] != "b" or target not in STUDY_B_COLUMNS:
            continue
        _, metric, scale = STUDY_B_COLUMNS[target]
        for g in r["generations"]:
            rows.append({"dataset": r["dataset"]["name"], "paper_dataset": target, "method": c["method"],
                         "preset": c["preset"], "seed": c["seed"], "generation": g["generation"],
                         "metric": metric, "value": g["test"][metric] * scale,
                         "mask_fraction": (g.get("pseudo_labels") or {}).get("mask_fraction")})
    return pd.DataFrame(rows)


def _device(record: dict) -> str:
    d = record["environment"]["device"]
    return f"{d['type']} ({d['name']})" if d.get("name") else d["type"]


def provenance_frame(records: list[dict]) -> pd.DataFrame:
    """Where every run came from: preset, dataset (real or synthetic), seed, device, commit, time."""
    return pd.DataFrame([{
        "run": r["run_id"], "preset": r["config"]["preset"], "dataset": r["dataset"]["name"],
        "data": ("synthetic stand-in for " + r["dataset"]["stands_in_for"] if r["dataset"]["synthetic"]
                 else "real: " + r["dataset"]["provenance"].get("protocol", "prepared")),
        "seed": r["config"]["seed"], "device": _device(r),
        "commit": r["environment"]["git_commit"][:12], "minutes": round(r["timing"]["total_s"] / 60, 1),
        "created": r["created"]} for r in records])


def provenance_summary(records: list[dict]) -> pd.DataFrame:
    """:func:`provenance_frame` condensed to one row per dataset, preset, device and commit: which
    methods and seeds ran there and their total compute time."""
    runs = provenance_frame(records)
    if runs.empty:
        return runs
    runs["method"] = [r["config"]["method"] for r in records]
    keys = ["dataset", "data", "preset", "device", "commit"]
    return (runs.groupby(keys, sort=True)
            .agg(runs=("run", "size"), methods=("method", lambda m: ", ".join(sorted(set(m)))),
                 seeds=("seed", lambda x: ", ".join(str(v) for v in sorted(set(x)))), minutes=("minutes", "sum"))
            .reset_index().round({"minutes": 1}))


def reported_study_a(paper_dir: Path = PAPER_DIR) -> pd.DataFrame:
    path = Path(paper_dir) / "study_a_reported.csv"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: the paper's reported Study A numbers belong there")
    return pd.read_csv(path)


def study_a_comparison(records: list[dict], paper_dir: Path = PAPER_DIR) -> pd.DataFrame:
    """The reported Study A table with the IM gain per split and a reproduced column ('not run' until
    Study A run records exist)."""
    rep = reported_study_a(paper_dir)
    wide = rep.pivot_table(index=["group", "method", "backbone", "split"], columns="plus_im", values="miou").reset_index()
    wide = wide.rename(columns={False: "without IM", True: "with IM"})
    wide["IM gain"] = wide["with IM"] - wide["without IM"]
    mine = {}
    for r in records:
        c = r["config"]
        if c["study"] == "a":
            mine[(c["method"], c.get("split"), bool(c.get("plus_im")))] = r["result"]["test"].get("miou_cm")
    wide["reproduced without IM"] = [mine.get((m, s, False), "not run") for m, s in zip(wide.method, wide.split)]
    wide["reproduced with IM"] = [mine.get((m, s, True), "not run") for m, s in zip(wide.method, wide.split)]
    order = {"1/16": 0, "1/8": 1, "1/4": 2, "1/2": 3}
    return wide.sort_values(["group", "method", "split"], key=lambda s: s.map(order) if s.name == "split" else s,
                            ascending=[False, True, True]).reset_index(drop=True)
