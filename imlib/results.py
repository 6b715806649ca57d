"""Run records: one JSON file per run, written atomically, and their loader into a tidy DataFrame.

A record holds the full configuration, every generation's members with their validation and test
metrics, the headline result (the generation and model chosen on validation), timings, package
versions, the git commit, the device and where the dataset came from.
"""
from __future__ import annotations

import base64
import datetime as _dt
import json
import zlib
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

SCHEMA = 1
PACKAGES = ("torch", "numpy", "scipy", "pandas", "segmentation-models-pytorch")


def git_commit(cwd: Path | None = None) -> str:
    """The commit of the working tree, with '+dirty' when tracked files (other than run records) differ;
    'unknown' outside git."""
    cwd = cwd or Path(__file__).resolve().parent.parent
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True,
                             check=True, timeout=10).stdout.strip()
        # the records themselves do not make the code dirty
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".",
                                ":(exclude)data/results"], cwd=cwd, capture_output=True, text=True,
                               timeout=10).stdout.strip()
        return sha + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def environment(device: torch.device) -> dict[str, Any]:
    versions = {}
    for p in PACKAGES:
        try:
            versions[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            versions[p] = None
    dev = {"type": device.type}
    if device.type == "cuda":
        dev["name"] = torch.cuda.get_device_name(device)
    else:
        dev["name"] = platform.processor() or platform.machine()
        dev["threads"] = torch.get_num_threads()
    return {"python": platform.python_version(), "platform": platform.platform(), "packages": versions,
            "device": dev, "git_commit": git_commit()}


def encode_array(a: np.ndarray | torch.Tensor) -> dict[str, Any]:
    """A small array as JSON: zlib-compressed, base64 text (used for figure material in records)."""
    a = a.cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)
    if a.dtype == bool:
        a = a.astype(np.uint8)
    return {"shape": list(a.shape), "dtype": str(a.dtype),
            "data": base64.b64encode(zlib.compress(np.ascontiguousarray(a).tobytes(), 9)).decode()}


def decode_array(d: dict[str, Any]) -> np.ndarray:
    raw = zlib.decompress(base64.b64decode(d["data"]))
    return np.frombuffer(raw, dtype=d["dtype"]).reshape(d["shape"]).copy()


def record_path(results_dir: str | Path, run_id: str) -> Path:
    return Path(results_dir) / f"{run_id}.json"


def write_json_atomic(obj: Any, path: Path) -> None:
    """Write to a temporary file in the same folder, then rename: a record is whole or absent."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=1, sort_keys=False)
        f.write("\n")
    os.replace(tmp, path)


def read_record(path: Path) -> dict[str, Any]:
    try:
        rec = json.loads(Path(path).read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not a valid run record ({e})") from e
    for key in ("run_id", "config", "result", "generations", "dataset"):
        if key not in rec:
            raise ValueError(f"{path}: run record lacks the key {key!r}")
    return rec


def now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def load_records(root: str | Path) -> list[dict[str, Any]]:
    root = Path(root)
    return [read_record(p) for p in sorted(root.rglob("*.json"))] if root.exists() else []


def records_frame(records: list[dict[str, Any]]) -> pd.DataFrame:
    """Tidy table: one row per (run, generation, split, metric) with the top-1 model's value, plus the
    run's identity and provenance columns."""
    rows = []
    for r in records:
        c = r["config"]
        base = {"run_id": r["run_id"], "study": c["study"], "dataset": c["dataset"], "method": c["method"],
                "preset": c["preset"], "seed": c["seed"], "synthetic": r["dataset"]["synthetic"],
                "stands_in_for": r["dataset"].get("stands_in_for"), "device": r["environment"]["device"]["type"],
                "commit": r["environment"]["git_commit"],
                "selected_generation": r["result"]["generation"]}
        for g in r["generations"]:
            for split in ("val", "test"):
                for metric, value in g[split].items():
                    rows.append({**base, "generation": g["generation"], "split": split, "metric": metric,
                                 "value": value})
    return pd.DataFrame(rows)
