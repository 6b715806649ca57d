"""The tables: the paper's reported numbers beside the numbers reproduced from run records.

A reproduced number is the mean over seeds of each run's headline test value (the model and generation
chosen on validation) with its 95 % Student-t interval (:mod:`imlib.stats`); paired comparisons over
seeds say which differences the seeds resolve. Runs on a synthetic stand-in are shown in the
column of the dataset they stand in for but are marked as such, and get no delta: a synthetic score is
not a reproduction of the paper's number. Rows are the registered methods (:mod:`imlib.methods.registry`),
in the paper's order.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from imlib.methods import registry
from imlib.methods.semi_supervised import SHARED_SETTINGS
from imlib.paths import PAPER_DIR
from imlib.records import RunRecord
from imlib.stats import mean_interval, paired_difference

# paper dataset -> (column in the reported CSV, metric key in run records, scale to the paper's unit)
STUDY_B_COLUMNS = {
    "isic2018": ("isic2018_iou", "iou", 100.0),
    "hela": ("hela_mcce", "mcce", 1.0),
    "suim": ("suim_miou", "miou", 100.0),
    "cityscapes": ("cityscapes_miou", "miou", 100.0),
}
LOWER_IS_BETTER = {"hela"}
PAPER_NAMES = {"isic2018": "ISIC 2018", "hela": "HeLa", "suim": "SUIM", "cityscapes": "Cityscapes"}
METRIC_UNITS = {"iou": "IoU %", "miou": "mIoU %", "mcce": "MCCE"}


def row_label(key: str) -> str:
    """A method's row: the paper's label when it has one, else its display name."""
    spec = registry.get_method(key) if key in registry.method_keys("b") else None
    return (spec.paper_row or spec.name) if spec else key


def in_paper_table(record: RunRecord) -> bool:
    """Whether a run belongs to a column of the paper's Study B table (its dataset or the one it stands in for)."""
    return record.config.study == "b" and record.dataset.paper_dataset in STUDY_B_COLUMNS


def records_frame(records: list[RunRecord]) -> pd.DataFrame:
    """Tidy table: one row per (run, generation, split, metric) with the top-1 model's value, plus the
    run's identity and provenance columns."""
    rows = []
    for r in records:
        c = r.config
        base = {"run_id": r.run_id, "study": c.study, "dataset": c.dataset, "method": c.method, "preset": c.preset,
                "seed": c.seed, "synthetic": r.dataset.synthetic, "stands_in_for": r.dataset.stands_in_for,
                "device": r.environment.device.type, "commit": r.environment.git_commit,
                "selected_generation": r.result.generation}
        for g in r.generations:
            for split, scores in (("val", g.val), ("test", g.test)):
                for metric, value in scores.items():
                    rows.append({**base, "generation": g.generation, "split": split, "metric": metric, "value": value})
    return pd.DataFrame(rows)


def reported_study_b(paper_dir: Path = PAPER_DIR) -> pd.DataFrame:
    path = Path(paper_dir) / "study_b_reported.csv"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: the paper's reported Study B numbers belong there")
    df = pd.read_csv(path)
    names = {m.paper_row for m in registry.methods(study="b") if m.paper_row}
    unknown = set(df["method"]) - names
    if unknown:
        raise ValueError(f"{path}: unexpected method rows {sorted(unknown)}")
    return df


RUN_COLUMNS = ["method", "paper_dataset", "dataset", "synthetic", "preset", "variant", "seed", "value", "val",
               "candidates", "candidates_mean", "device", "commit"]


def study_b_runs(records: list[RunRecord]) -> pd.DataFrame:
    """One row per Study B run of a registered method: its headline test value in the paper's unit (and
    validation value, the number of models it was chosen from and their mean test value)."""
    runs = []
    for r in records:
        if not in_paper_table(r) or r.config.method not in registry.method_keys(study="b"):
            continue
        target = r.dataset.paper_dataset
        _, metric, scale = STUDY_B_COLUMNS[target]
        runs.append({"method": r.config.method, "paper_dataset": target, "dataset": r.dataset.name,
                     "synthetic": r.dataset.synthetic, "preset": r.config.preset, "variant": r.config.variant,
                     "seed": r.config.seed, "value": r.result.test[metric] * scale, "val": r.result.val[metric] * scale,
                     "candidates": r.result.candidates, "candidates_mean": r.result.candidates_test_mean * scale,
                     "device": r.environment.device.type, "commit": r.environment.git_commit})
    return pd.DataFrame(runs, columns=RUN_COLUMNS)


def study_b_comparison(records: list[RunRecord], paper_dir: Path = PAPER_DIR) -> pd.DataFrame:
    """Tidy comparison: one row per (registered Study B method, paper dataset) with reported and reproduced values."""
    reported = reported_study_b(paper_dir).set_index("method")
    runs = study_b_runs(records)
    rows = []
    for spec in registry.methods(study="b"):
        for ds, (col, metric, _) in STUDY_B_COLUMNS.items():
            mine = runs[(runs.method == spec.key) & (runs.paper_dataset == ds)]
            has_paper_row = spec.paper_row is not None and spec.paper_row in reported.index
            row = {"method": spec.key, "paper_method": row_label(spec.key), "paper_dataset": ds, "metric": metric,
                   "lower_is_better": ds in LOWER_IS_BETTER,
                   "reported": float(reported.loc[spec.paper_row, col]) if has_paper_row else None}
            # runs with other settings (a variant) are never pooled with the preset's own
            for (dataset, synthetic, preset, variant), grp in mine.groupby(["dataset", "synthetic", "preset",
                                                                             "variant"]):
                iv = mean_interval(grp.value)
                mean = iv.mean
                rows.append({**row, "dataset": dataset, "synthetic": synthetic, "preset": preset, "variant": variant,
                             "reproduced": mean, "std": grp.value.std(ddof=1) if len(grp) > 1 else 0.0,
                             "ci_low": iv.low, "ci_high": iv.high,
                             "candidates": ",".join(str(c) for c in sorted(set(grp.candidates))),
                             "candidates_mean": grp.candidates_mean.mean(),
                             "seeds": len(grp), "devices": ",".join(sorted(set(grp.device))),
                             "commits": ",".join(sorted(set(grp.commit))),
                             "delta": None if synthetic or row["reported"] is None else mean - row["reported"]})
            if mine.empty:
                rows.append({**row, "dataset": None, "synthetic": None, "preset": None, "variant": None,
                             "reproduced": None, "std": None, "ci_low": None, "ci_high": None, "candidates": None,
                             "candidates_mean": None, "seeds": 0, "devices": None, "commits": None, "delta": None})
    return pd.DataFrame(rows)


def format_study_b(comp: pd.DataFrame) -> pd.DataFrame:
    """Wide, printable: one row per method; per paper dataset the reported value and one column per set of
    runs of this project (dataset, preset and, for other settings, the variant; mean ± the half-width of its
    95 % t interval over seeds, with the number of seeds; Δ only for real data). † marks a synthetic
    stand-in."""
    out = {}
    for ds in STUDY_B_COLUMNS:
        part = comp[comp.paper_dataset == ds]
        ran = part.dropna(subset=["reproduced"])
        if ran.empty and ds == "cityscapes":
            continue
        unit = "MCCE ↓" if ds in LOWER_IS_BETTER else ("IoU %" if ds == "isic2018" else "mIoU %")
        head = f"{PAPER_NAMES[ds]} · {unit}"
        out[(head, "paper")] = {r.paper_method: "—" if pd.isna(r.reported) else f"{r.reported:.1f}"
                                for _, r in part.iterrows()}
        if ran.empty:
            out[(head, "this project: —")] = {}
        for (dataset, synthetic, preset, variant), grp in ran.groupby(["dataset", "synthetic", "preset", "variant"],
                                                                      sort=True):
            label = f"this project: {dataset}{' †' if synthetic else ''}, {preset}" + (f", {variant}" if variant else "")
            out[(head, label)] = {r.paper_method: _reproduced_text(r) for _, r in grp.iterrows()}
    df = pd.DataFrame(out).reindex([row_label(k) for k in registry.method_keys(study="b")])
    mine = [c for c in df.columns if c[1] != "paper"]
    df[mine] = df[mine].astype(object).fillna("not run")
    df.columns = pd.MultiIndex.from_tuples(df.columns)
    df.index.name = "method"
    return df


def _reproduced_text(r) -> str:
    digits = 2 if r.paper_dataset in LOWER_IS_BETTER else 1
    spread = f" ± {(r.ci_high - r.ci_low) / 2:.{digits}f}" if r.seeds > 1 else ""
    val = f"{r.reproduced:.{digits}f}{spread} (n={r.seeds})" + (" †" if r.synthetic else "")
    return val + ("" if pd.isna(r.delta) else f" (Δ {r.delta:+.1f})")


def paired_comparisons(records: list[RunRecord]) -> pd.DataFrame:
    """IM against LDT, against Model Ensemble and against the strongest semi-supervised baseline, paired
    over seeds, per dataset and preset (variants never pooled). The strongest baseline is the one with the
    best mean *validation* score (choosing it on test would favour the baseline). A positive difference
    means IM is better, in the paper's unit (MCCE: fewer miscounted cells)."""
    runs = study_b_runs(records)
    semi = {s.key for s in registry.methods(study="b", kind="semi-supervised")}
    rows = []
    for (dataset, target, synthetic, preset, variant), grp in runs.groupby(
            ["dataset", "paper_dataset", "synthetic", "preset", "variant"], sort=True):
        higher = target not in LOWER_IS_BETTER
        by_method = {m: dict(zip(g.seed, g.value)) for m, g in grp.groupby("method")}
        if "im" not in by_method:
            continue
        opponents = [("ldt", "LDT"), ("me", "Model Ensemble")]
        ssl = grp[grp.method.isin(semi)]
        if not ssl.empty:
            val_means = ssl.groupby("method").val.mean()
            best = val_means.idxmax() if higher else val_means.idxmin()
            opponents.append((best, f"best semi-supervised ({registry.display_name(best)}, on validation)"))
        for key, label in opponents:
            if key not in by_method or not set(by_method["im"]) & set(by_method[key]):
                continue
            d = paired_difference(by_method["im"], by_method[key], higher)
            rows.append({"dataset": dataset, "synthetic": synthetic, "preset": preset, "variant": variant,
                         "comparison": f"IM vs {label}", "seeds": d.difference.n,
                         "difference": d.difference.mean, "ci_low": d.difference.low, "ci_high": d.difference.high,
                         "im_better_on": d.a_better, "im_worse_on": d.b_better, "verdict": f"IM {d.verdict}"
                         if d.verdict in ("better", "worse") else d.verdict})
    return pd.DataFrame(rows, columns=["dataset", "synthetic", "preset", "variant", "comparison", "seeds",
                                       "difference", "ci_low", "ci_high", "im_better_on", "im_worse_on", "verdict"])


# The stand-ins must tell a model trained on all labels from one trained on 10 %: FDT beats LDT by at
# least this much (points for IoU-like metrics, a relative share for MCCE), with 95 % intervals over
# seeds that do not overlap. Calibrated on these two reference rows only (issue 12).
CALIBRATION_MARGIN = {"points": 5.0, "relative": 0.20}


def reference_calibration(records: list[RunRecord]) -> pd.DataFrame:
    """Per dataset and preset: FDT against LDT, and whether the calibration rule holds."""
    runs = study_b_runs(records)
    rows = []
    for (dataset, target, preset, variant), grp in runs.groupby(["dataset", "paper_dataset", "preset", "variant"],
                                                                sort=True):
        ldt, fdt = grp[grp.method == "ldt"].value, grp[grp.method == "fdt"].value
        if ldt.empty or fdt.empty:
            continue
        a, b = mean_interval(fdt), mean_interval(ldt)
        lower = target in LOWER_IS_BETTER
        gain = (b.mean - a.mean) / b.mean if lower else a.mean - b.mean
        need = CALIBRATION_MARGIN["relative"] if lower else CALIBRATION_MARGIN["points"]
        rows.append({"dataset": dataset, "preset": preset, "variant": variant, "seeds": min(a.n, b.n),
                     "LDT": b.mean, "LDT 95% CI": (b.low, b.high), "FDT": a.mean, "FDT 95% CI": (a.low, a.high),
                     "gain": gain, "gain unit": "relative" if lower else "points", "required": need,
                     "intervals separate": not a.overlaps(b), "holds": gain >= need and not a.overlaps(b)})
    return pd.DataFrame(rows)


def own_datasets_table(records: list[RunRecord]) -> pd.DataFrame:
    """Runs on datasets that are not the paper's (people's own, prepared with ``imlib prepare folder``): one
    row per method (in the paper's order), one column per dataset and preset with the headline test value
    as mean ± std over seeds, in % for IoU-like metrics; no paper column, since the paper has none."""
    values: dict[tuple[str, str], list[float]] = {}
    for r in records:
        if r.config.study != "b" or in_paper_table(r):
            continue
        metric = r.task.metric
        scale = 1.0 if metric == "mcce" else 100.0
        arrow = "↑" if r.task.higher_is_better else "↓"
        settings = r.config.preset + (f", {r.config.variant}" if r.config.variant else "")
        head = f"{r.dataset.name} · {metric}{' %' if scale == 100 else ''} {arrow} ({settings})"
        values.setdefault((r.config.method, head), []).append(r.headline_test * scale)
    if not values:
        return pd.DataFrame()
    table: dict[str, dict[str, str]] = {}
    for (method, head), v in values.items():
        v = pd.Series(v)
        text = f"{v.mean():.1f}" + (f" ± {v.std(ddof=1):.1f} (n={len(v)})" if len(v) > 1 else " (n=1)")
        table.setdefault(head, {})[row_label(method)] = text
    order = [row_label(k) for k in registry.method_keys("b") if any(row_label(k) in col for col in table.values())]
    order += sorted({m for col in table.values() for m in col} - set(order))
    df = pd.DataFrame(table).reindex(order).fillna("not run")
    df.index.name = "method"
    return df[sorted(df.columns)]


def generation_frame(records: list[RunRecord]) -> pd.DataFrame:
    """Per run and generation: the top-1 model's test value in the paper's unit (Study B records), with the
    method's kind (reference, semi-supervised, generational) from the registry."""
    rows = []
    for r in records:
        if not in_paper_table(r):
            continue
        target = r.dataset.paper_dataset
        _, metric, scale = STUDY_B_COLUMNS[target]
        kind = registry.get_method(r.config.method).kind if r.config.method in registry.method_keys("b") else None
        for g in r.generations:
            rows.append({"dataset": r.dataset.name, "paper_dataset": target, "method": r.config.method, "kind": kind,
                         "preset": r.config.preset, "variant": r.config.variant, "seed": r.config.seed,
                         "generation": g.generation,
                         "metric": metric, "value": g.test[metric] * scale,
                         "mask_fraction": g.pseudo_labels.mask_fraction if g.pseudo_labels else None})
    return pd.DataFrame(rows, columns=["dataset", "paper_dataset", "method", "kind", "preset", "variant", "seed",
                                       "generation", "metric", "value", "mask_fraction"])


def provenance_frame(records: list[RunRecord]) -> pd.DataFrame:
    """Where every run came from: preset, dataset (real or synthetic), seed, device, commit, time."""
    return pd.DataFrame([{
        "run": r.run_id, "method": r.config.method, "preset": r.config.preset, "dataset": r.dataset.name,
        "data": r.dataset.description, "seed": r.config.seed, "device": str(r.environment.device),
        "commit": r.environment.git_commit[:12], "minutes": round(r.timing.total_s / 60, 1),
        "created": r.created} for r in records])


def provenance_summary(records: list[RunRecord]) -> pd.DataFrame:
    """:func:`provenance_frame` condensed to one row per dataset, preset, device and commit: which
    methods and seeds ran there and their total compute time."""
    runs = provenance_frame(records)
    if runs.empty:
        return runs
    keys = ["dataset", "data", "preset", "device", "commit"]
    return (runs.groupby(keys, sort=True)
            .agg(runs=("run", "size"), methods=("method", lambda m: ", ".join(sorted(set(m)))),
                 seeds=("seed", lambda x: ", ".join(str(v) for v in sorted(set(x)))), minutes=("minutes", "sum"))
            .reset_index().round({"minutes": 1}))


def hyperparameter_table(study: str = "b") -> pd.DataFrame:
    """Every registered method's options with the reason for each value, after the settings the
    semi-supervised baselines share with the references (rendered in the book)."""
    rows = [{"method": "all baselines", "parameter": k, "value": v, "why": w} for k, v, w in SHARED_SETTINGS]
    for spec in registry.methods(study=study):
        for name, option in spec.options.items():
            rows.append({"method": spec.name, "parameter": name, "value": str(option.default), "why": option.why})
    return pd.DataFrame(rows)


def format_paired(frame: pd.DataFrame) -> pd.DataFrame:
    """:func:`paired_comparisons` for reading: difference [95 % interval] in the paper's unit, seeds won."""
    if frame.empty:
        return frame
    out = pd.DataFrame({
        "dataset": frame.dataset + [" †" if s else "" for s in frame.synthetic],
        "preset": frame.preset + [f", {v}" if v else "" for v in frame.variant],
        "comparison": frame.comparison,
        "IM − other (positive: IM better)": [f"{d:+.2f} [{lo:+.2f}, {hi:+.2f}]" if n > 1 else f"{d:+.2f}"
                                             for d, lo, hi, n in zip(frame.difference, frame.ci_low, frame.ci_high,
                                                                     frame.seeds)],
        "IM better / worse on": [f"{b} / {w} of {n} seeds" for b, w, n in zip(frame.im_better_on, frame.im_worse_on,
                                                                             frame.seeds)],
        "verdict": frame.verdict})
    return out.set_index(["dataset", "preset", "comparison"])


def format_calibration(frame: pd.DataFrame) -> pd.DataFrame:
    """:func:`reference_calibration` for reading."""
    if frame.empty:
        return frame

    def iv(mean, bounds):
        lo, hi = bounds
        return f"{mean:.2f} [{lo:.2f}, {hi:.2f}]"

    return pd.DataFrame({
        "dataset": frame.dataset, "preset": frame.preset, "seeds": frame.seeds,
        "LDT [95 % CI]": [iv(m, b) for m, b in zip(frame.LDT, frame["LDT 95% CI"])],
        "FDT [95 % CI]": [iv(m, b) for m, b in zip(frame.FDT, frame["FDT 95% CI"])],
        "FDT gain": [f"{g:.0%}" if u == "relative" else f"{g:.1f} points" for g, u in zip(frame.gain, frame["gain unit"])],
        "required": [f"{r:.0%} and separate intervals" if u == "relative" else f"{r:.0f} points and separate intervals"
                     for r, u in zip(frame.required, frame["gain unit"])],
        "holds": ["yes" if h else "NO" for h in frame.holds]}).set_index(["dataset", "preset"])


def format_selection(comp: pd.DataFrame) -> pd.DataFrame:
    """What each reported number was chosen from: per method and dataset, the top-1 on validation beside
    the mean test value of all its candidate models (pools differ in size between methods; a larger pool
    favours its top-1, the mean does not)."""
    ran = comp.dropna(subset=["reproduced"])
    table: dict[str, dict[str, str]] = {}
    for _, r in ran.iterrows():
        head = f"{r.dataset}{' †' if r.synthetic else ''} ({r.preset}{', ' + r.variant if r.variant else ''})"
        digits = 2 if r.paper_dataset in LOWER_IS_BETTER else 1
        table.setdefault(head, {})[r.paper_method] = (f"{r.reproduced:.{digits}f} / {r.candidates_mean:.{digits}f} "
                                                      f"of {r.candidates}")
    if not table:
        return pd.DataFrame()
    df = pd.DataFrame(table).reindex([row_label(k) for k in registry.method_keys(study="b")]).fillna("not run")
    df.index.name = "top-1 / mean of all candidates, of n models"
    return df[sorted(df.columns)]
