"""What Study B costs: every method's training step timed, multiplied by the step counts of a preset's protocol.

    .venv/bin/python benchmarks/study_b_cost.py                               # CPU: smoke, with a measured cell (~1 min)
    .venv/bin/python benchmarks/study_b_cost.py --preset mini --no-check
    .venv/bin/python benchmarks/study_b_cost.py --device cuda --preset paper  # GPU: the paper's protocol

For each stand-in task (binary, multi-label, multi-class) and each method, one training step is timed on
synthetic data at the preset's image size, batch and width (the median of ``--repeats`` steps after a warm-up),
the way the engine trains: the paper's supervised step with the run's packing (the K models of a set in one
packed network, ``imlib.packed``), a semi-supervised baseline's own objective, alone or (on a GPU, or with
``--pack-models``) K in lockstep (``imlib.lockstep``). Inference is timed
per image. The preset's protocol then gives the number of steps and of predicted images of each cell:

* references: ``n_models`` models x epochs x floor(N / batch) steps (N: labeled, x(1 + aug_copies), full set);
* Model Ensemble and IM: ``generations`` x ``n_students`` students on every unlabeled image plus the labeled
  set (an upper bound: IM may drop images), the teachers' predictions of the unlabeled set, the LDT models
  reused (counted in the LDT cell);
* semi-supervised baselines: ``ssl_models`` models x epochs x floor(unlabeled / batch), their EMA teacher
  validated beside the student (U2PL, iMAS, FPL);
* every model: its validation set each epoch, validation and test once at the end.

The projection covers training and inference, not data generation or kernel start-up. ``--check`` (default on
the CPU) runs the LDT and IM cells of the binary task end to end and sets their measured time beside the
projection, so that the model's error is on record, and the committed records of the preset (seed 0) are set
beside the projected training of their cells. Writes ``results/study_b_cost-<device>-<preset>.json``.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

from imlib import provenance
from imlib.config import make_config
from imlib.data.registry import labeled_split
from imlib.engine import Supervised, TrainSettings, make_optimizer, pick_device, predict_labels, training_step
from imlib.methods import run as run_method
from imlib.methods.registry import get_method, method_keys
from imlib.methods.shared import Run
from imlib.packed import PackedSet
from timing import timed  # benchmarks/timing.py

OUT = Path(__file__).parent / "results"
TASKS = ("synthetic-lesion", "synthetic-cells", "synthetic-scenes")
EMA_EVALUATED = ("u2pl", "imas", "fpl")  # validated twice per epoch (student and EMA teacher)


def set_size(cfg, method: str) -> int:
    kind = get_method(method).kind
    return {"reference": cfg.n_models, "generational": cfg.n_students}.get(kind, cfg.ssl_models)


def step_seconds(run: Run, method: str, repeats: int, total: int) -> tuple[float, int]:
    """Seconds of one training step of ``method``'s models as the run trains them (alone, or K together:
    packed, or in lockstep for a baseline) and K. Steps are taken from the middle of a ``total``-step training,
    past any warm-up a method has."""
    spec, cfg, device = get_method(method), run.cfg, run.device
    settings = TrainSettings(lr=cfg.lr, weight_decay=cfg.weight_decay)
    labeled = run.dataset.labeled
    if spec.kind == "semi-supervised":
        def make():
            return spec.objective(labeled, run.dataset.unlabeled.images, run.task, cfg.batch_size, run.options)
    else:
        def make():
            return Supervised(labeled, run.task, cfg.batch_size)
    first = make()
    k = min(run.set_size(first), set_size(cfg, method))
    counter = iter(range(total // 2, 10 ** 9))
    if k == 1:
        torch.manual_seed(0)
        model = run.build().to(device)
        first.bind(model, device, 0)
        opt = make_optimizer(list(model.parameters()) + first.parameters(), settings)
        return timed(lambda: training_step(model, first, opt, next(counter), total, device, cfg.amp),
                     device, 2, repeats), 1
    together = PackedSet(run.build, [first] + [make() for _ in range(k - 1)], list(range(k)), device, settings)
    with ThreadPoolExecutor(max_workers=k) as pool:
        return timed(lambda: together.step(next(counter), total, cfg.amp, pool), device, 2, repeats), k


def inference_seconds_per_image(run: Run, repeats: int) -> float:
    model = run.build().to(run.device)
    images = run.dataset.val.images
    return timed(lambda: predict_labels(model, images, run.task, amp=run.cfg.amp), run.device, 1,
                 repeats) / len(images)


def protocol(cfg, method: str) -> dict:
    """Training steps (per set of models trained together: divide by K), trained models and predicted images
    of one cell of ``method`` under ``cfg``'s protocol."""
    spec = get_method(method)
    n_lab = len(labeled_split(cfg.n_train, cfg.labeled_fraction, cfg.data_seed)[0])
    n_unl = cfg.n_train - n_lab
    per_epoch = lambda n: cfg.steps_per_epoch or max(1, n // cfg.batch_size)  # noqa: E731
    evals_per_epoch = 2 if method in EMA_EVALUATED else 1
    if spec.kind == "reference":
        full, augmented = {"ldt": (0, 0), "aldt": (0, 1), "fdt": (1, 0), "afdt": (1, 1)}[method]
        n = (cfg.n_train if full else n_lab) * (1 + cfg.aug_copies * augmented)
        models, steps, labelled = cfg.n_models, cfg.epochs * per_epoch(n), 0
    elif spec.kind == "generational":
        models = cfg.generations * cfg.n_students
        steps = cfg.epochs * per_epoch(n_unl + n_lab)
        labelled = cfg.generations * cfg.n_teachers * n_unl
    else:
        models, steps, labelled = cfg.ssl_models, cfg.epochs * per_epoch(n_unl), 0
    predicted = models * (cfg.epochs * evals_per_epoch * cfg.n_val + cfg.n_val + cfg.n_test) + labelled
    return {"models": models, "steps_per_model": steps, "predicted_images": predicted}


def measurement_config(cfg, work: str):
    """The preset's configuration on a small synthetic set: step and inference times do not depend on the
    set's size, only on image size, batch and width."""
    n = max(64, 12 * cfg.batch_size)
    return dataclasses.replace(cfg, n_train=n, n_val=32, n_test=8, work_dir=work, results_dir=work)


def project(preset: str, device: torch.device, repeats: int, methods: list[str], work: str,
            pack_models: int | None = None) -> list[dict]:
    rows = []
    for dataset in TASKS:
        base = make_config(preset, dataset=dataset, device=str(device), pack_models=pack_models)
        run = Run(measurement_config(base, work), progress=False)
        infer = inference_seconds_per_image(run, repeats)
        for method in methods:
            cfg = make_config(preset, dataset=dataset, method=method, device=str(device), pack_models=pack_models)
            mrun = Run(measurement_config(cfg, work), progress=False, dataset=run.dataset)
            p = protocol(cfg, method)
            seconds, k = step_seconds(mrun, method, repeats, p["steps_per_model"])
            sets = math.ceil(set_size(cfg, method) / k) * (p["models"] // set_size(cfg, method))  # packed sets
            train = sets * p["steps_per_model"] * seconds
            rows.append({"dataset": dataset, "method": method, "alpha": mrun.alpha, "packed": k,
                         "step_ms": round(seconds * 1e3, 3), "images_per_s": round(k * cfg.batch_size / seconds, 1),
                         **p, "train_s": round(train, 2), "inference_s": round(p["predicted_images"] * infer, 2),
                         "cell_s": round(train + p["predicted_images"] * infer, 2)})
            print(f"{dataset:18s} {method:10s} K={k:<2d} {seconds * 1e3:8.1f} ms/step "
                  f"{k * cfg.batch_size / seconds:8.0f} img/s  cell {rows[-1]['cell_s'] / 3600:8.3f} h", flush=True)
    return rows


def check_cells(preset: str, device: torch.device, rows: list[dict], work: str) -> list[dict]:
    """The LDT and IM cells of the binary task, run end to end, against their projection."""
    out = []
    for method in ("ldt", "im"):
        cfg = make_config(preset, dataset=TASKS[0], method=method, device=str(device), work_dir=work,
                          results_dir=work, allow_stand_in=True)  # a timing on the stand-in, on purpose
        t = time.perf_counter()
        record = run_method(cfg, progress=False)
        wall = time.perf_counter() - t
        projected = next(r for r in rows if r["dataset"] == TASKS[0] and r["method"] == method)
        out.append({"method": method, "measured_total_s": round(wall, 2), "measured_train_s": record.timing.train_s,
                    "projected_cell_s": projected["cell_s"], "projected_train_s": projected["train_s"],
                    "ratio_measured_to_projected": round(wall / projected["cell_s"], 3)})
        print(f"check {method}: measured {wall:.1f} s (training {record.timing.train_s:.1f} s), projected "
              f"{projected['cell_s']:.1f} s (training {projected['train_s']:.1f} s)", flush=True)
    return out


def record_check(preset: str, rows: list[dict]) -> list[dict]:
    """Per task, the committed seed-0 records of this preset (their models' training seconds, made by the
    commit each names, in a batch of two single-thread jobs) beside the projected training of the same cells."""
    from imlib import records
    from imlib.paths import PROJECT_ROOT

    found = [r for r in records.load_all(PROJECT_ROOT / "data" / "results")
             if r.config.preset == preset and r.config.seed == 0 and r.config.dataset in TASKS]
    out = []
    for dataset in TASKS:
        cells = {r.config.method: r for r in found if r.config.dataset == dataset}
        projected = [x for x in rows if x["dataset"] == dataset and x["method"] in cells]
        if not projected:
            continue
        measured = sum(cells[x["method"]].timing.train_s for x in projected)
        out.append({"dataset": dataset, "cells": len(projected), "records_train_s": round(measured, 1),
                    "projected_train_s": round(sum(x["train_s"] for x in projected), 1),
                    "ratio_records_to_projected": round(measured / sum(x["train_s"] for x in projected), 3),
                    "record_commits": sorted({cells[x["method"]].environment.git_commit[:12] for x in projected})})
        print(f"records {dataset}: {out[-1]['records_train_s']:.0f} s of training in {len(projected)} committed cells, "
              f"projected {out[-1]['projected_train_s']:.0f} s", flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--preset", default=None, help="default: smoke on the CPU, paper on a GPU")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--methods", nargs="+", default=None)
    ap.add_argument("--check", action=argparse.BooleanOptionalAction, default=None,
                    help="run the LDT and IM cells end to end beside the projection (default: on the CPU)")
    ap.add_argument("--pack-models", type=int, default=None, help="models trained together (default: the run's auto rule)")
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    device = pick_device(a.device)
    preset = a.preset or ("paper" if device.type == "cuda" else "smoke")
    check = a.check if a.check is not None else device.type == "cpu"
    methods = a.methods or method_keys(study="b")
    with tempfile.TemporaryDirectory() as work:
        t0 = time.perf_counter()
        rows = project(preset, device, a.repeats, methods, work, a.pack_models)
        checks = check_cells(preset, device, rows, work) if check else []
        from_records = record_check(preset, rows) if device.type == "cpu" else []
        seconds = time.perf_counter() - t0
    by_method = {m: round(sum(r["cell_s"] for r in rows if r["method"] == m), 2) for m in methods}
    per_seed = sum(by_method.values())
    result = {"device": provenance.device_description(device), "commit": provenance.git_commit(),
              "date": provenance.now(), "preset": preset, "pack_models": a.pack_models, "tasks": list(TASKS), "rows": rows,
              "per_seed_hours": round(per_seed / 3600, 4), "per_method_seed_hours": {m: round(s / 3600, 4)
                                                                                   for m, s in by_method.items()},
              "check": checks, "records_check": from_records, "benchmark_seconds": round(seconds, 1),
              "note": "training + inference of every model of one seed on the three synthetic stand-in tasks at the "
                      "preset's sizes; data generation and kernel start-up not included (see check)"}
    print(f"\nStudy B, preset {preset}, one seed, {len(TASKS)} tasks: {per_seed / 3600:.3f} h on {result['device']}")
    for m, s in sorted(by_method.items(), key=lambda kv: -kv[1]):
        print(f"  {m:10s} {s / 3600:8.3f} h  ({100 * s / per_seed:4.1f} %)")
    out = Path(a.out) if a.out else OUT / f"study_b_cost-{device.type}-{preset}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"-> {out}")


if __name__ == "__main__":
    main()
