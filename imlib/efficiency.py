"""The committed benchmark results as the book's tables (the *Efficiency* page).

Reads ``benchmarks/results/*.json`` (written by ``benchmarks/packed.py`` and ``benchmarks/study_b_cost.py``);
every table comes with the line saying which device, commit and date measured it, and a missing or
unreadable file is an error naming it (the page never shows numbers nobody measured).
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from imlib.paths import PROJECT_ROOT

BENCHMARK_DIR = PROJECT_ROOT / "benchmarks" / "results"


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
    """Where a result comes from: device, threads, commit, date."""
    d = result["device"]
    device = d.get("name") or d["type"]
    threads = f", {d['threads']} threads" if d.get("threads") else ""
    return f"{d['type'].upper()} {device}{threads}; commit {result['commit'][:12]}; {result['date'][:10]}"


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
    """Projected hours of one seed of Study B per method (the three stand-in tasks summed) and its share."""
    rows = pd.DataFrame(result["rows"])
    hours = rows.groupby("method", sort=False)["cell_s"].sum() / 3600
    table = pd.DataFrame({"hours per seed": hours.round(4), "share %": (100 * hours / hours.sum()).round(1),
                          "models per cell": rows.groupby("method", sort=False)["models"].first(),
                          "training img/s (median over tasks)": rows.groupby("method", sort=False)["images_per_s"]
                          .median().round()})
    return table.sort_values("hours per seed", ascending=False)


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
    if not result.get("check"):
        return pd.DataFrame()
    t = pd.DataFrame(result["check"]).set_index("method")
    return t.rename(columns={"measured_total_s": "measured s", "measured_train_s": "of which training s",
                             "projected_cell_s": "projected s", "projected_train_s": "projected training s",
                             "ratio_measured_to_projected": "measured / projected"})
