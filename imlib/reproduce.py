"""Compare regenerated run records with the committed ones: did ``make reproduce`` reproduce them?

``make reproduce`` writes its records to ``data/reproduced`` (ignored by git), so that running it leaves the
clone as it was; the book stays built from the committed records in ``data/results``. This module says, record
by record, whether the regenerated results equal the committed ones, leaving out what differs between any
two runs by design: when and where a run ran (``created``, ``environment``: commit, packages, device) and how
long it took (``timing``, durations in seconds), and the folders it wrote to::

    python -m imlib.reproduce data/reproduced data/results
"""
from __future__ import annotations

import argparse
import json
import math
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imlib.records import record_files

# what differs between two runs of the same configuration by design (top-level keys, config keys, and any key
# that holds a duration in seconds)
VOLATILE_TOP = frozenset({"created", "environment", "timing"})
VOLATILE_CONFIG = frozenset({"results_dir", "work_dir", "prepared_dir"})


ABSENT = "(absent)"


def _volatile(key: str) -> bool:
    return key == "seconds" or key.endswith("_s")


def _is_path(value: Any) -> bool:
    """An absolute file path (a checkpoint, a dataset root): where the run wrote, not what it found."""
    return isinstance(value, str) and (value.startswith("/") or value[1:3] in (":\\", ":/"))


def comparable(record: dict) -> dict:
    """The record without its provenance, timings and paths (what must be equal when a run is reproduced)."""
    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if not _volatile(k)}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    out = {k: strip(v) for k, v in record.items() if k not in VOLATILE_TOP}
    if isinstance(out.get("config"), dict):
        out["config"] = {k: v for k, v in out["config"].items() if k not in VOLATILE_CONFIG}
    return out


def differences(new: Any, old: Any, tolerance: float = 1e-9, path: str = "") -> list[tuple[str, Any, Any]]:
    """(path, old value, new value) for every leaf that differs (:data:`ABSENT` where one side lacks the key);
    numbers within ``tolerance`` (absolute or relative) are equal, NaN equals NaN, absolute paths are equal."""
    if isinstance(new, dict) and isinstance(old, dict):
        out = []
        for k in sorted(set(new) | set(old), key=str):
            sub = f"{path}.{k}" if path else str(k)
            if k not in old or k not in new:
                out.append((sub, old.get(k, ABSENT), new.get(k, ABSENT)))
            else:
                out += differences(new[k], old[k], tolerance, sub)
        return out
    if isinstance(new, list) and isinstance(old, list):
        if len(new) != len(old):
            return [(f"{path} (length)".strip(), len(old), len(new))]
        return [d for i, (a, b) in enumerate(zip(new, old)) for d in differences(a, b, tolerance, f"{path}[{i}]")]
    numbers = (int, float)
    if isinstance(new, numbers) and isinstance(old, numbers) and not isinstance(new, bool) and not isinstance(old, bool):
        if (math.isnan(new) and math.isnan(old)) or math.isclose(new, old, rel_tol=tolerance, abs_tol=tolerance):
            return []
        return [(path, old, new)]
    if _is_path(new) and _is_path(old):
        return []
    return [] if new == old else [(path, old, new)]


@dataclass
class Comparison:
    identical: list[str] = field(default_factory=list)
    differ: dict[str, list[tuple[str, Any, Any]]] = field(default_factory=dict)
    new: list[str] = field(default_factory=list)  # no committed record to compare with
    fields: set[str] = field(default_factory=set)  # keys only one side has (the record format changed)

    @property
    def ok(self) -> bool:
        return not self.differ


def compare(new_dir: str | Path, old_dir: str | Path, tolerance: float = 1e-9) -> Comparison:
    """Every run record (``*.json``) under ``new_dir`` against the record at the same place under ``old_dir``."""
    new_dir, old_dir = Path(new_dir), Path(old_dir)
    result = Comparison()
    for path in record_files(new_dir):
        rel = path.relative_to(new_dir)
        name = rel.with_suffix("").as_posix()
        old = old_dir / rel
        if not old.exists():
            result.new.append(name)
            continue
        diff = differences(comparable(json.loads(path.read_text())), comparable(json.loads(old.read_text())),
                           tolerance)
        changed = [d for d in diff if ABSENT not in (d[1], d[2])]
        result.fields |= {re.sub(r"\[\d+\]", "[]", p) for p, a, b in diff if ABSENT in (a, b)}
        if changed:
            result.differ[name] = changed
        else:
            result.identical.append(name)
    return result


def _short(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)[:40]


def report(c: Comparison, new_dir: str, old_dir: str, tolerance: float = 1e-9, shown: int = 3) -> str:
    """The comparison in a few lines, and what to do with the regenerated records."""
    total = len(c.identical) + len(c.differ)
    lines = [f"Reproduction check: the records in {new_dir} against the committed ones in {old_dir} (leaving out "
             "provenance, timings and folders):"]
    if not total and not c.new:
        lines.append(f"  no run records in {new_dir}")
    elif c.ok:
        lines.append(f"  {len(c.identical)} of {total} records reproduce the committed results (numbers equal to "
                     f"{tolerance:g}).")
    else:
        lines.append(f"  {len(c.identical)} of {total} records reproduce the committed results; {len(c.differ)} differ:")
        for name, diff in c.differ.items():
            first = "; ".join(f"{p} {_short(a)} -> {_short(b)}" for p, a, b in diff[:shown])
            more = f" (and {len(diff) - shown} more)" if len(diff) > shown else ""
            lines.append(f"    {name}: {first}{more}")
    if c.fields:
        keys = sorted(c.fields)
        lines.append(f"  Keys only one side has (the record format changed, not compared): {', '.join(keys[:5])}"
                     + (f" and {len(keys) - 5} more" if len(keys) > 5 else ""))
    if c.new:
        lines.append(f"  {len(c.new)} records have no committed counterpart (not compared), e.g. {c.new[0]}")
    lines += [f"The book is built from the committed records in {old_dir}; yours stay in {new_dir}.",
              f"To make yours the committed records: cp -r {new_dir}/. {old_dir}/ && git add {old_dir}"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m imlib.reproduce", description=__doc__.split("\n\n")[0])
    ap.add_argument("new_dir", help="the regenerated records, e.g. data/reproduced")
    ap.add_argument("old_dir", help="the committed records, e.g. data/results")
    ap.add_argument("--tolerance", type=float, default=1e-9, help="absolute or relative, for numbers")
    ap.add_argument("--strict", action="store_true", help="exit with status 1 when a record differs")
    a = ap.parse_args(argv)
    c = compare(a.new_dir, a.old_dir, a.tolerance)
    print(report(c, a.new_dir, a.old_dir, a.tolerance))
    return 1 if a.strict and not c.ok else 0


if __name__ == "__main__":
    sys.exit(main())
