"""The committed benchmark results as the book's tables (the *Efficiency* and *Running Study A* pages).

Reads ``benchmarks/results/*.json`` (written by ``benchmarks/packed.py``, ``benchmarks/study_b_cost.py`` and
``benchmarks/study_a.py``); every table comes with the line saying which device, commit and date measured it,
and a missing or unreadable file is an error naming it (the page never shows numbers nobody measured).
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from imlib.paths import PROJECT_ROOT

BENCHMARK_DIR = PROJECT_ROOT / "benchmarks" / "results"


def _decimals(values: pd.Series) -> int:
    """The decimals a column needs to show every value as rounded (at most 4)."""
    return max((len(f"{v:.4f}".rstrip("0").split(".")[1]) for v in values if pd.notna(v)), default=0)


def shown(table: pd.DataFrame, caption: str, index: bool = True):
    """``table`` as the book shows it (``imlib.tables.styled``): each float column with as many decimals as its
    values were rounded to (the same for the whole column, no six-digit defaults), text columns left-aligned."""
    from imlib.tables import styled

    formats = {c: f"{{:.{_decimals(table[c])}f}}" for c in table.columns if pd.api.types.is_float_dtype(table[c])}
    return styled(table, caption=caption, index=index).format(formats, na_rep="—")  # styled left-aligns text


def load(name: str, folder: str | Path = BENCHMARK_DIR) -> dict:
    """One benchmark's JSON (``name``: e.g. ``packed-cpu``)."""
    path = Path(folder) / f"{name}.json"
    if not path.exists():
        raise FileNotFoundError(f"{path}: no benchmark result (run the benchmark named in benchmarks/README.md)")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not a benchmark result ({e})") from None


def available(prefix: str, folder: str | Path = BENCHMARK_DIR) -> list[str]:
    """The result names starting with ``prefix`` (e.g. every device's ``packed-*``), sorted."""
    return sorted(p.stem for p in Path(folder).glob(f"{prefix}*.json"))


def measured_by(result: dict) -> str:
    """Where a result comes from: device, threads, commit (flagged when the tree had uncommitted changes), date
    (where the result records one)."""
    d = result["device"]
    device = d.get("name") or d["type"]
    threads = f", {d['threads']} thread{'s' if d['threads'] != 1 else ''}" if d.get("threads") else ""
    raw = result["commit"]
    commit = f"commit {raw.removesuffix('+dirty')[:12]}" + (" with uncommitted changes" if raw.endswith("+dirty") else "")
    date = f"; {result['date'][:10]}" if result.get("date") else ""
    return f"{d['type'].upper()} {device}{threads}; {commit}{date}"


def packed_table(result: dict) -> pd.DataFrame:
    """Training images per second (all K models counted) of the packed network, the same K models one after
    another, and a conventional DataLoader loop, with the ratios that are the benchmark's figure (and, where
    measured, each GPU candidate's speed-up over the plain packed step)."""
    rows = [{"alpha": r["alpha"], "K models": r["models"], "packed img/s": round(r["packed_img_s"]),
             "one after another img/s": round(r["separate_img_s"]), "conventional img/s": round(r["conventional_img_s"]),
             "packed / one after another": round(r["packed_vs_separate"], 2),
             "packed / conventional": round(r["packed_vs_conventional"], 2),
             # the GPU candidates (torch.compile, fused AdamW, channels-last), each against the plain packed step
             **{f"{k.removesuffix('_vs_packed')} / packed": round(v, 2) for k, v in r.items() if k.endswith("_vs_packed")}}
            for r in result["results"]]
    return pd.DataFrame(rows).set_index(["alpha", "K models"])


def cost_by_method(result: dict) -> pd.DataFrame:
    """Projected minutes of one seed of Study B per method (the three stand-in tasks summed) and its share,
    the methods named as the tables name them, the most expensive first."""
    from imlib.methods.registry import display_name

    rows = pd.DataFrame(result["rows"])
    by = rows.groupby("method", sort=False)
    minutes = by["cell_s"].sum() / 60
    table = pd.DataFrame({"minutes per seed": minutes.round(2), "share %": (100 * minutes / minutes.sum()).round(1),
                          "models per cell": by["models"].first(),
                          "training img/s (median over tasks)": by["images_per_s"].median().round().astype(int)})
    table = table.sort_values("minutes per seed", ascending=False)
    table.index = pd.Index([display_name(k) for k in table.index], name="method")
    return table


def records_check(result: dict) -> pd.DataFrame:
    """The committed records' training time per task beside the projection of the same cells."""
    if not result.get("records_check"):
        return pd.DataFrame()
    t = pd.DataFrame(result["records_check"]).set_index("dataset")
    t["record_commits"] = t["record_commits"].map(", ".join)
    return t.rename(columns={"records_train_s": "records: training s", "projected_train_s": "projected training s",
                             "ratio_records_to_projected": "records / projected", "record_commits": "records' commits"})


def cost_check(result: dict) -> pd.DataFrame:
    """Cells run end to end beside their projection (the cost model's error, on record)."""
    from imlib.methods.registry import display_name

    if not result.get("check"):
        return pd.DataFrame()
    t = pd.DataFrame(result["check"])
    t = t.set_index(pd.Index([display_name(k) for k in t.pop("method")], name="method"))
    return t.rename(columns={"measured_total_s": "measured s", "measured_train_s": "of which training s",
                             "projected_cell_s": "projected s", "projected_train_s": "projected training s",
                             "ratio_measured_to_projected": "measured / projected"})


# how the Study A recipe table names each field of imlib.study_a.recipe.HostRecipe (with its unit)
RECIPE_LABELS = {"lr": "LR (backbone)", "weight_decay": "weight decay", "head_lr_multiplier": "head LR / backbone LR",
                 "total_batch": "labeled batch (all GPUs)", "crop": "crop (px)", "epochs": "epochs",
                 "ohem_min_kept": "OHEM: pixels kept", "output_stride": "output stride", "atrous_rates": "ASPP rates",
                 "eval_window": "eval window (px)", "eval_stride": "eval stride (px)", "gpus": "GPUs",
                 "ema": "EMA momentum", "ema_buffers": "EMA of BN statistics", "optimizer": "optimiser",
                 "encoder": "backbone"}


def _recipe_value(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, tuple):
        return ", ".join(map(str, value))
    return str(value)


def study_a_recipes() -> pd.DataFrame:
    """Every Study A host's official recipe (:class:`imlib.study_a.recipe.HostRecipe`) as text: one row per
    setting (labelled with its unit), one column per host in the registry's order, named without the
    registry's parenthesis (``SegKC``, not ``SegKC (re-implementation)``) so that the table fits the page."""
    from dataclasses import fields

    from imlib.methods.registry import methods

    hosts = methods(study="a", kind="study-a-host")
    names = [f.name for f in fields(hosts[0].objective.RECIPE) if f.name != "source"]
    table = pd.DataFrame({m.name.split(" (")[0]: [_recipe_value(getattr(m.objective.RECIPE, n)) for n in names]
                          for m in hosts},
                         index=pd.Index([RECIPE_LABELS.get(n, n.replace("_", " ")) for n in names], name="setting"))
    table.columns.name = "host"
    return table


def study_a_cell_costs(probe: dict) -> pd.DataFrame:
    """Hours of one Study A cell (two teacher runs + the IM student) per host, precision and labeled split
    (one column per split), from a throughput probe's JSON (``benchmarks/study_a.py``) through
    :func:`imlib.study_a.costs.cost_table`."""
    from imlib.study_a import costs

    table = costs.cost_table(probe["results"])
    cell = "GPU-h per cell (2 teachers + IM student)"
    wide = table.pivot_table(index=["host", "precision"], columns="split", values=cell, sort=False)
    wide = wide[list(costs.LABELED)].round(1)
    wide.columns = [f"{split} labeled" for split in wide.columns]
    return wide.reset_index()
