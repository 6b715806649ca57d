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
from imlib.selection import candidate_generations
from imlib.stats import PairedDifference, mean_interval, paired_difference

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


def metric_scale(metric: str) -> float:
    """The factor from a record's value to the unit of ``METRIC_UNITS`` (IoU-like scores in %, MCCE as is)."""
    return 1.0 if metric == "mcce" else 100.0


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
        scale = metric_scale(metric)
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


def _comparison_label(comparison: str) -> str:
    """``"IM vs best semi-supervised (UniMatch, on validation)"`` -> ``"IM vs UniMatch (best semi-supervised
    on validation)"``."""
    other = comparison.removeprefix("IM vs ")
    if other.startswith("best semi-supervised ("):
        other = other.removeprefix("best semi-supervised (").split(",")[0] + " (best semi-supervised on validation)"
    return f"IM vs {other}"


def format_paired(frame: pd.DataFrame, short: bool = False) -> pd.DataFrame:
    """:func:`paired_comparisons` for reading: per dataset († a stand-in; the preset too where there are
    several) and comparison, the difference [95 % interval] in the paper's unit, the seeds IM is ahead and
    behind on, the verdict. ``short`` (for a page's width): "vs LDT", and the semi-supervised baseline best
    on validation marked * (the caption says what * means)."""
    if frame.empty:
        return frame
    keys = {"dataset": frame.dataset + [" †" if s else "" for s in frame.synthetic]}
    if frame.preset.nunique() > 1 or frame.variant.astype(bool).any():
        keys["preset"] = frame.preset + [f", {v}" if v else "" for v in frame.variant]
    keys["comparison"] = [_comparison_label(c) for c in frame.comparison]
    if short:
        keys["comparison"] = [c.removeprefix("IM ").replace(" (best semi-supervised on validation)", " *")
                              for c in keys["comparison"]]
    out = pd.DataFrame({
        **keys,
        "IM − other [95 % CI]": [_signed(d) + (f" [{_signed(lo)}, {_signed(hi)}]" if n > 1 else "")
                                 for d, lo, hi, n in zip(frame.difference, frame.ci_low, frame.ci_high, frame.seeds)],
        "IM ahead / behind": [f"{b} / {w} of {n} seeds" for b, w, n in zip(frame.im_better_on, frame.im_worse_on,
                                                                           frame.seeds)],
        "verdict": frame.verdict})
    return out.set_index(list(keys))


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
        "required": [f"≥ {r:.0%}, separate CIs" if u == "relative" else f"≥ {r:.0f} points, separate CIs"
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


# --- Tables for the book: the paper's table and this project's table apart, styled to fit the page ---------

# the paper's row groups (column ``group`` of the reported CSV) -> the registry kind whose heading they take
PAPER_GROUPS = {"reference": "reference", "sota": "semi-supervised", "ours": "generational"}


def paper_table(paper_dir: Path = PAPER_DIR) -> pd.DataFrame:
    """The paper's Study B table as it reports it: every method row (grouped as the paper groups them) and
    every dataset column, Cityscapes included, in the paper's units. Nothing of this project in it."""
    rep = reported_study_b(paper_dir)
    groups = [registry.GROUPS[PAPER_GROUPS[g]] for g in rep.group]
    cols = {(PAPER_NAMES[ds], _unit(ds)): rep[col].to_numpy() for ds, (col, _, _) in STUDY_B_COLUMNS.items()}
    df = pd.DataFrame(cols, index=pd.MultiIndex.from_arrays([groups, rep.method], names=["group", "method"]))
    df.columns = pd.MultiIndex.from_tuples(df.columns, names=["dataset", "metric"])
    return df


def _unit(paper_dataset: str) -> str:
    """``"MCCE ↓"``, ``"IoU % ↑"``: a column's unit and direction."""
    return f"{METRIC_UNITS[STUDY_B_COLUMNS[paper_dataset][1]]} {'↓' if paper_dataset in LOWER_IS_BETTER else '↑'}"


def reproduced_table(comp: pd.DataFrame) -> pd.DataFrame:
    """This project's numbers alone (no paper column beside them): one row per method (grouped as in
    :func:`paper_table`), one column per set of runs (dataset, preset and variant), each cell the mean over
    seeds ± the half-width of its 95 % t interval. A column heading names the dataset († a synthetic
    stand-in), what it stands in for, the preset and the number of seeds; a cell names its seeds only when
    they differ from the heading's."""
    ran = comp.dropna(subset=["reproduced"])
    if ran.empty:
        return pd.DataFrame()
    out: dict[tuple[str, str], dict[tuple[str, str], str]] = {}
    for (target, dataset, synthetic, preset, variant), grp in ran.groupby(
            ["paper_dataset", "dataset", "synthetic", "preset", "variant"], sort=False):
        seeds = int(grp.seeds.max())
        head = f"{dataset}{' †' if synthetic else ''}" + (f" (for {PAPER_NAMES[target]})" if synthetic else "")
        sub = f"{_unit(target)}, {preset}" + (f", {variant}" if variant else "") + f", {seeds} seed{'s' * (seeds > 1)}"
        digits = 2 if target in LOWER_IS_BETTER else 1
        cells = {}
        for _, r in grp.iterrows():
            text = f"{r.reproduced:.{digits}f}"
            if r.seeds > 1:
                text += f" ± {(r.ci_high - r.ci_low) / 2:.{digits}f}"
            if r.seeds != seeds:
                text += f" (n={r.seeds})"
            cells[_row_key(r.method)] = text
        out[(head, sub)] = cells
    rows = [_row_key(k) for k in registry.method_keys(study="b")]
    df = pd.DataFrame(out).reindex(pd.MultiIndex.from_tuples(rows, names=["group", "method"])).fillna("not run")
    order = [f"(for {PAPER_NAMES[ds]})" for ds in STUDY_B_COLUMNS]
    df = df[sorted(df.columns, key=lambda c: next((i for i, o in enumerate(order) if c[0].endswith(o)), len(order)))]
    df.columns = pd.MultiIndex.from_tuples(df.columns, names=["dataset", "unit, preset, seeds"])
    return df


def _row_key(method: str) -> tuple[str, str]:
    spec = registry.get_method(method)
    return spec.group, row_label(method)


def _signed(x: float, digits: int = 2) -> str:
    return f"{x:+.{digits}f}".replace("-", "−")


def study_b_findings(comp: pd.DataFrame, paired: pd.DataFrame) -> dict[str, list[str]]:
    """What a set of runs shows, in plain sentences built from the numbers (never written by hand, so
    they follow the records), per set of runs (dataset, preset, variant): where the seeds resolve a
    difference for IM and in which direction, where they do not, and which methods trained on the same
    10 % of labels have a better mean than IM. ``comp``: :func:`study_b_comparison`; ``paired``:
    :func:`paired_comparisons` of the same records."""
    ran = comp.dropna(subset=["reproduced"])
    out: dict[str, list[str]] = {}
    same_labels = {s.key for s in registry.methods(study="b") if s.kind != "reference"} | {"ldt", "aldt"}
    for (target, dataset, synthetic, preset, variant), grp in ran.groupby(
            ["paper_dataset", "dataset", "synthetic", "preset", "variant"], sort=False):
        lower = target in LOWER_IS_BETTER
        unit = "MCCE" if lower else "points"
        name = f"`{dataset}`" + (f" (stand-in for {PAPER_NAMES[target]})" if synthetic else "") + f", `{preset}`"
        name += f", {variant}" if variant else ""
        pairs = paired[(paired.dataset == dataset) & (paired.preset == preset) & (paired.variant == variant)]
        said = []
        for _, p in pairs.iterrows():
            other = _comparison_label(p.comparison).removeprefix("IM vs ")
            if p.seeds < 2:
                said.append(f"against {other}: {_signed(p.difference)} {unit} on a single seed (no interval: "
                            "not a finding)")
                continue
            iv = f"{_signed(p.difference)} {unit}, 95 % interval [{_signed(p.ci_low)}, {_signed(p.ci_high)}]"
            ahead = f"IM ahead on {p.im_better_on} of {p.seeds} seeds"
            if p.verdict == "IM better":
                said.append(f"**better** than {other}: {iv}, {ahead}")
            elif p.verdict == "IM worse":
                said.append(f"**worse** than {other}: {iv}, {ahead}")
            else:
                said.append(f"against {other}: {iv}, {ahead}; the interval includes zero, so {p.seeds} seeds "
                            "do not tell them apart")
        im = grp[grp.method == "im"]
        if not im.empty:
            mine, digits = im.reproduced.iloc[0], (2 if lower else 1)
            others = grp[grp.method.isin(same_labels - {"im"})]
            ahead_of_im = others[(others.reproduced < mine) if lower else (others.reproduced > mine)]
            if others.empty:
                said.append(f"IM ({mine:.{digits}f}) is the only method trained on the same 10 % of labels with "
                            "these settings: nothing to rank it against")
            elif ahead_of_im.empty:
                said.append(f"no other method trained on the same 10 % of labels has a better mean than IM "
                            f"({mine:.{digits}f})")
            else:
                names = ", ".join(f"{row_label(m)} {v:.{digits}f}" for m, v in
                                  zip(ahead_of_im.method, ahead_of_im.reproduced))
                said.append(f"IM's mean ({mine:.{digits}f}) is **behind** {len(ahead_of_im)} other "
                            f"method{'s' * (len(ahead_of_im) > 1)} trained on the same 10 % of labels: {names} "
                            "(means, not paired: see their intervals in the table)")
        out[name] = said
    return out


def findings_markdown(findings: dict[str, list[str]], title: str, intro: str, kind: str = "important") -> str:
    """:func:`study_b_findings` as a MyST admonition titled ``title``, of the class ``kind`` (note,
    important, warning), a nested list under ``intro``."""
    lines = ["```{admonition} " + title, f":class: {kind}", "", intro, ""]
    for head, said in findings.items():
        lines.append(f"- {head}:")
        lines += [f"  - {s};" if i < len(said) - 1 else f"  - {s}." for i, s in enumerate(said)]
    return "\n".join(lines + ["```"])


def styled(frame: pd.DataFrame, caption: str | None = None, index: bool = True, wrap: tuple[str, ...] = (),
           left: tuple[str, ...] | None = None, precision: int | None = None) -> "pd.io.formats.style.Styler":
    """A table for the book's pages (and a notebook): padding between columns, a caption above it, the
    index hidden where it means nothing (``index=False``) and the index names always, numbers right-aligned,
    text columns (``left``; by default every non-numeric column) left-aligned, long text columns (``wrap``)
    wrapped so that the table never gets wider than the page's content column."""
    if left is None:
        left = tuple(c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c]))
    sty = frame.style.hide(axis="index", names=True)
    if not index:
        sty = sty.hide(axis="index")
    if precision is not None:
        sty = sty.format(precision=precision, na_rep="—")
    if caption:
        sty = sty.set_caption(caption)
    cell = "padding: 0.3em 0.7em; vertical-align: top; border-bottom: 1px solid #e0e0e0;"
    styles = [
        {"selector": "", "props": "border-collapse: collapse; max-width: 100%; font-size: 0.85em; "
                                  "margin: 0.5em 0 1em;"},
        {"selector": "caption", "props": "caption-side: top; text-align: left; font-size: 1.05em; "
                                         "padding: 0 0 0.5em; color: inherit;"},
        {"selector": "th", "props": cell + "text-align: left; font-weight: 600; white-space: normal;"},
        {"selector": "td", "props": cell + "text-align: right; white-space: nowrap;"},
        {"selector": "thead th", "props": "border-bottom: 1.5px solid #888; vertical-align: bottom;"},
    ]
    sty = sty.set_table_styles(styles, overwrite=True)
    per_column = {}
    for col in frame.columns:
        if col in wrap:
            per_column[col] = [{"selector": "td", "props": "white-space: normal; text-align: left; min-width: 7em;"}]
        elif col in left:
            per_column[col] = [{"selector": "td", "props": "text-align: left;"}]
    if per_column:
        sty = sty.set_table_styles(per_column, overwrite=False)
    return sty.set_table_attributes('class="imlib-table"')


def provenance_table(records: list[RunRecord]) -> pd.DataFrame:
    """:func:`provenance_summary` for reading on a page: the dataset with what it stands in for († a
    synthetic stand-in), the methods as "all 12" where every registered Study B method ran, the compute time
    in minutes (summed over runs)."""
    summary = provenance_summary(records)
    if summary.empty:
        return summary
    stands = {r.dataset.name: (r.dataset.synthetic, r.dataset.paper_dataset) for r in records}
    names = [f"{d} † (for {PAPER_NAMES.get(stands[d][1], stands[d][1])})" if stands[d][0] else d
             for d in summary.dataset]
    every = set(registry.method_keys(study="b"))
    methods = [f"all {len(every)}" if set(m.split(", ")) == every else m for m in summary.methods]
    return pd.DataFrame({"dataset": names, "preset": summary.preset, "device": summary.device,
                         "commit": summary.commit.str[:7], "runs": summary.runs, "methods": methods,
                         "seeds": summary.seeds, "minutes": summary.minutes})


def generations_table(record: RunRecord) -> "pd.io.formats.style.Styler":
    """One run's generations (the train page): the top-1 model chosen on validation, its validation and test
    value, the mean test value of the generation's models, whether the run's selection rule lets the
    generation be reported (a generational run's generation 0 is its LDT teachers: never a candidate under
    the paper's rule, but shown, since its generations have to beat it), and the generation reported (marked)."""
    metric = record.task.metric
    unit, scale = METRIC_UNITS.get(metric, metric), metric_scale(metric)
    candidates = {g.generation for g in candidate_generations(record.generations, lambda g: g.generation,
                                                              record.result.selection)}

    def status(g) -> str:
        if g.generation == record.result.generation:
            return "◀ reported"
        return "" if g.generation in candidates else "teachers: not a candidate"

    frame = pd.DataFrame([{"generation": g.generation, "top-1 model": g.selected,
                           f"val {unit}": g.val[metric] * scale, f"test {unit}": g.test[metric] * scale,
                           f"test {unit}, mean of models": g.test_mean * scale, "reported": status(g)}
                          for g in record.generations])
    worse = " The reported generation is worse on validation than its teachers." if record.result.below_teachers else ""
    return styled(frame, caption=f"{record.run_id}: scores per generation (selection rule "
                                 f"'{record.result.selection}').{worse}", index=False,
                  left=("top-1 model", "reported"), precision=2)


def teachers_comparison(records: list[RunRecord], presets_only: bool = True) -> pd.DataFrame:
    """Every generational run (Model Ensemble, IM) beside its teachers: the reported generation, its top-1
    model and generation 0's (the LDT teachers) on validation and on test, as "reported / teachers" in the
    paper's units, and whether the reported one is worse on validation ("worse (val)": the paper's rule never
    reports the teachers, so it can be). ``presets_only``: only runs with their preset's own settings (no variant)."""
    rows = []
    for r in records:
        t, metric = r.result.teachers, r.task.metric
        if t is None or (presets_only and r.config.variant):
            continue
        scale = metric_scale(metric)
        pair = lambda a, b: f"{a[metric] * scale:.2f} / {b[metric] * scale:.2f}"  # noqa: E731
        rows.append({"dataset": r.dataset.name, "method": registry.get_method(r.config.method).name,
                     "preset": r.config.preset, "seed": r.config.seed, "gen.": r.result.generation,
                     "val: reported / teachers": pair(r.result.val, t.val),
                     "test: reported / teachers": pair(r.result.test, t.test),
                     "worse (val)": "yes" if r.result.below_teachers else "no"})
    columns = ["dataset", "method", "preset", "seed", "gen.", "val: reported / teachers",
               "test: reported / teachers", "worse (val)"]
    return pd.DataFrame(rows, columns=columns).sort_values(["dataset", "method", "preset", "seed"], ignore_index=True)


def inference_comparison(records: list[RunRecord]) -> tuple[pd.DataFrame, PairedDifference | None]:
    """Runs of one method on one multi-class dataset and preset with the paper's inference and with the IM
    class left out of the argmax (``RunConfig.inference``): per mode the seeds, the headline's test score
    (mean and 95 % interval over seeds) and the share of test pixels its model predicts as the IM class
    (always an error); and the paired difference real-classes minus paper over the seeds both have."""
    keys = {(r.config.dataset, r.config.method, r.config.preset) for r in records}
    if len(keys) != 1:
        raise ValueError(f"expected the runs of one dataset, method and preset, got {sorted(keys)}")
    metric = records[0].task.metric
    scale = metric_scale(metric)
    by_mode: dict[str, dict[int, RunRecord]] = {}
    for r in records:
        by_mode.setdefault(r.config.inference, {})[r.config.seed] = r
    rows = []
    for mode in ("paper", "real-classes"):
        runs = by_mode.get(mode, {})
        if not runs:
            continue
        score = mean_interval([r.result.test[metric] * scale for r in runs.values()])
        shares = [100 * r.result.test["im_class_share"] for r in runs.values() if "im_class_share" in r.result.test]
        rows.append({"inference": mode, "seeds": ", ".join(map(str, sorted(runs))),
                     f"test {METRIC_UNITS.get(metric, metric)}": _with_interval(score),
                     "IM-class pixels, % of test (per seed)": ", ".join(f"{v:.1f}" for v in shares) or "—"})
    paired = None
    if len(by_mode) == 2:
        paired = paired_difference({s: r.result.test[metric] * scale for s, r in by_mode["real-classes"].items()},
                                   {s: r.result.test[metric] * scale for s, r in by_mode["paper"].items()},
                                   records[0].task.higher_is_better)
    return pd.DataFrame(rows), paired


def inference_section(records: list[RunRecord], dataset: str, preset: str, method: str = "im") -> str | None:
    """The book's comparison of the two inference modes for ``method`` on ``dataset`` at ``preset``, from the
    records that carry the IM-class share: the table (HTML, with where the numbers come from) and the paired
    difference in words; None when no such records exist."""
    runs = [r for r in records if r.config.study == "b" and r.config.method == method and r.config.dataset == dataset
            and r.config.preset == preset and "im_class_share" in r.result.test]
    if not runs:
        return None
    frame, paired = inference_comparison(runs)
    env = runs[0].environment
    caption = (f"{registry.get_method(method).name} on {runs[0].dataset.description}, preset {preset}; device "
               f"{env.device}, commit {env.git_commit[:7]}")
    html = styled(frame, index=False, caption=caption).to_html()
    if paired is not None:
        d = paired.difference
        html += (f"<p>real-classes minus paper, paired over {d.n} seeds: {d.mean:+.2f} points, 95 % interval "
                 f"[{d.low:+.2f}, {d.high:+.2f}]; {paired.verdict} (better on {paired.a_better} of {d.n} seeds).</p>")
    return html


def _with_interval(i) -> str:
    return f"{i.mean:.2f}" if i.n < 2 else f"{i.mean:.2f} [{i.low:.2f}, {i.high:.2f}]"
