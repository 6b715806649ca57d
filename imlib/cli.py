"""Command line: ``imlib train | batch | table | prepare | download``."""
from __future__ import annotations

import argparse
import ast
import json
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd

from imlib.config import PRESET_PURPOSE, PRESETS


TABLE_WIDTH = 120  # characters: what `imlib table` prints fits a terminal and a log


def fit_columns(df: pd.DataFrame, width: int = TABLE_WIDTH) -> list[pd.DataFrame]:
    """``df`` split into blocks of whole columns that print at most ``width`` characters wide, each with the
    row index (a block of one column, or of one group of a two-level header, may be wider). Columns under
    one top-level header stay together (the paper's and this project's value of a dataset side by side)."""
    if isinstance(df.columns, pd.MultiIndex):
        groups: list[list] = []
        for col in df.columns:
            if groups and groups[-1][0][0] == col[0]:
                groups[-1].append(col)
            else:
                groups.append([col])
    else:
        groups = [[col] for col in df.columns]

    def wide(cols) -> int:
        return max(map(len, df[cols].to_string().splitlines()), default=0)

    blocks: list[list] = []
    for group in groups:
        if blocks and wide(blocks[-1] + group) <= width:
            blocks[-1] += group
        else:
            blocks.append(list(group))
    return [df[cols] for cols in blocks] or [df]


def say(text: str, width: int = TABLE_WIDTH) -> None:
    """Print a sentence wrapped at ``width`` (leading blank lines kept)."""
    body = text.lstrip("\n")
    print("\n" * (len(text) - len(body)) + textwrap.fill(body, width))


def print_table(df: pd.DataFrame, keys: list[str] | None = None, width: int = TABLE_WIDTH) -> None:
    """Print ``df`` in blocks at most ``width`` wide (:func:`fit_columns`); ``keys``: columns that name a row,
    repeated in every block (instead of a meaningless 0..N index)."""
    if keys:
        df = df.set_index([k for k in keys if k in df.columns])
    with pd.option_context("display.max_columns", None, "display.width", width, "display.max_colwidth", 60):
        print("\n\n".join(block.to_string() for block in fit_columns(df, width)))


def _value(text: str):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _pairs(pairs: list[str] | None, flag: str) -> dict:
    """``KEY=VALUE`` words -> a dict (values read as Python literals when they are, else as text)."""
    out = {}
    for p in pairs or []:
        if "=" not in p:
            raise SystemExit(f"{flag} expects KEY=VALUE, got {p!r}")
        k, v = p.split("=", 1)
        out[k.strip()] = _value(v)
    return out


def _overrides(a) -> dict:
    """The configuration fields of ``--set`` and the method options of ``--option``."""
    overrides = _pairs(a.set, "--set")
    if a.stand_in:
        overrides["allow_stand_in"] = True
    options = _pairs(a.option, "--option")
    if options:
        overrides["options"] = {**overrides.get("options", {}), **options}
    return overrides


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--study", default="b", choices=["a", "b"],
                   help="b: the from-scratch U-Net study (default); a: IM as a plug-in over the Cityscapes hosts")
    p.add_argument("--preset", default="smoke", choices=sorted(PRESETS),
                   help="; ".join(f"{k}: {v}" for k, v in PRESET_PURPOSE.items()))
    p.add_argument("--results-dir", default="data/results")
    p.add_argument("--work-dir", default="data/work", help="model checkpoints (reused and resumed)")
    p.add_argument("--device", default="auto")
    p.add_argument("--set", nargs="*", metavar="KEY=VALUE", help="override any RunConfig field")
    p.add_argument("--option", nargs="*", metavar="KEY=VALUE",
                   help="a method option (declared in imlib.methods.registry), e.g. --option mode=ignore for IM")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--stand-in", action="store_true",
                   help="allow the paper preset on a synthetic stand-in (refused otherwise: its numbers are not the paper's)")


def _study_a_config(a, **fields):
    """A Study A configuration from the command line (``--set`` fields, ``--option`` host options,
    ``--plugin-option`` / ``--variant`` for the IM plug-in)."""
    from imlib.study_a.config import make_config

    overrides = _pairs(a.set, "--set")
    if a.stand_in:
        overrides["allow_stand_in"] = True
    plugin_options = _pairs(getattr(a, "plugin_option", None), "--plugin-option")
    if getattr(a, "variant", None):
        plugin_options["variant"] = a.variant
    return make_config(a.preset, device=a.device, results_dir=a.results_dir, work_dir=a.work_dir,
                       options=_pairs(a.option, "--option"), **fields,
                       **({"plugin_options": plugin_options} if plugin_options else {}), **overrides)


def cmd_train_a(a) -> int:
    from imlib.records import record_path
    from imlib.study_a import run as study_a

    cfg = _study_a_config(a, host=a.method, dataset=a.dataset, split=a.split, seed=a.seed, plugin=a.plugin)
    path = record_path(cfg.results_dir, cfg.run_id)
    if study_a.existing_record(cfg) and not a.force:
        print(f"{path} exists, made with these settings; --force to run again")
        return 0
    rec = study_a.run(cfg, progress=not a.quiet)
    print(f"{cfg.run_id}: val mIoU best {rec.result.best_miou:.2f} ({rec.result.best_network}, epoch "
          f"{rec.result.best_epoch + 1}), last {rec.result.last_miou:.2f} ({rec.timing.total_s:.0f} s) -> {path}")
    return 0


def cmd_train(a) -> int:
    if a.study == "a":
        return cmd_train_a(a)
    from imlib import methods, records
    from imlib.config import describe_differences, make_config, semantic_differences

    cfg = make_config(a.preset, study=a.study, dataset=a.dataset, method=a.method, seed=a.seed,
                      device=a.device, results_dir=a.results_dir, work_dir=a.work_dir, **_overrides(a))
    path = records.record_path(cfg.results_dir, cfg.run_id)
    if path.exists() and not a.force:
        differ = semantic_differences(records.load(path).config, cfg)
        print(f"{path} exists, made with other settings ({describe_differences(differ)}); --force to replace it"
              if differ else f"{path} exists, made with these settings; --force to run again")
        return 0
    rec = methods.run(cfg, progress=not a.quiet)
    records.save(rec, path)
    print(f"{cfg.run_id}: test {rec.task.metric} = {rec.headline_test:.4f} "
          f"(generation {rec.result.generation}, {rec.timing.total_s:.0f} s) -> {path}")
    if rec.result.below_teachers:
        t, m = rec.result.teachers, rec.task.metric
        print(f"note: the reported generation {rec.result.generation} (val {m} {rec.result.val[m]:.4f}) is worse on "
              f"validation than its LDT teachers ({t.model}, val {t.val[m]:.4f}); the paper's rule never reports "
              f"generation 0 (--set selection=with-teachers does)")
    return 0


def cmd_batch(a) -> int:
    from imlib import batch

    if a.study == "a":
        from imlib.study_a import batch as study_a

        overrides = {"device": a.device, "results_dir": a.results_dir, "work_dir": a.work_dir,
                     "options": _pairs(a.option, "--option"), **_pairs(a.set, "--set"),
                     **({"allow_stand_in": True} if a.stand_in else {})}
        configs = study_a.expand_grid(a.preset, a.methods, a.splits, a.seeds,
                                      dataset=a.datasets[0] if a.datasets else None, overrides=overrides)
    else:
        configs = batch.expand_grid(a.study, a.preset, a.datasets, a.methods, a.seeds,
                                    {"device": a.device, "results_dir": a.results_dir, "work_dir": a.work_dir,
                                     **_overrides(a)})
    from imlib.config import check_stand_in

    if a.status:
        from imlib import slurm

        rows = slurm.status(configs)
        width = max(len(r[0]) for r in rows) if rows else 0
        for run_id, state, detail in rows:
            print(f"{run_id:<{width}}  {state:<8} {detail}".rstrip())
        counts = {s: sum(r[1] == s for r in rows) for s in dict.fromkeys(r[1] for r in rows)}
        print("status: " + ", ".join(f"{n} {s}" for s, n in counts.items()))
        return 0
    for cfg in configs:  # before anything trains, not once per failed run
        check_stand_in(cfg.preset, cfg.dataset, cfg.allow_stand_in)
    if a.executor == "slurm":
        from imlib import slurm

        if a.pack_seeds:
            raise ValueError("--pack-seeds runs seed groups in-process; with --executor slurm each cell is a job")
        rep = slurm.submit(configs, profile=a.slurm_profile, overrides=_pairs(a.slurm, "--slurm"),
                           rerun_older=a.rerun_older, wait=not a.detach)
        if a.detach:
            print(f"batch: {len(rep.skipped)} already done; the rest submitted (imlib batch --status follows them)")
            return 0
    else:
        jobs = batch.default_jobs() if a.jobs == "auto" else int(a.jobs)
        rep = batch.run_batch(configs, jobs=jobs, executor=a.executor, progress=not a.quiet,
                              rerun_older=a.rerun_older, pack_seeds=a.pack_seeds)
    for run_id, reason in rep.rerun.items():
        print(f"rerun {run_id}: {reason}")
    print(f"batch: {len(rep.done)} run, {len(rep.skipped)} already done, {len(rep.failed)} failed "
          f"in {rep.seconds:.0f} s")
    for run_id, tail in rep.failed.items():
        print(f"FAILED {run_id}:\n{tail}", file=sys.stderr)
    return 0 if rep.ok else 1


def cmd_table_a(a) -> int:
    from imlib.study_a import records, tables

    runs = records.load_all(a.results_dir)
    if a.preset:
        runs = [r for r in runs if r.config.preset == a.preset]
    comp = tables.comparison(runs)
    print_table(comp, keys=["group", "method", "backbone", "split"])
    variants = tables.variants_table(runs)
    if not variants.empty:
        print("\nEvery run (mean over seeds):")
        print_table(variants, keys=["method", "plug_in", "split"])
    out = Path(a.out or Path(a.results_dir) / "study_a_table.csv")
    comp.to_csv(out, index=False)
    say(f"\n† smoke preset or synthetic stand-in: a code check, not a reproduction of the paper's number. Table: {out}")
    return 0


def cmd_table(a) -> int:
    if a.study == "a":
        return cmd_table_a(a)
    from imlib import records as run_records
    from imlib import tables

    records = run_records.load_all(a.results_dir)
    comp = tables.study_b_comparison(records)
    outside = sorted({r.dataset.name for r in records if not tables.in_paper_table(r)})
    if a.preset:
        comp = comp[comp.preset.isna() | (comp.preset == a.preset)]
    wide = tables.format_study_b(comp)
    print_table(wide)
    out = Path(a.out or Path(a.results_dir) / f"study_{a.study}_table.csv")
    out.parent.mkdir(parents=True, exist_ok=True)
    comp.to_csv(out, index=False)
    say(f"\nmean ± half-width of the 95 % t interval over seeds (n seeds); † synthetic stand-in: not a reproduction "
        f"of the paper's number. Table: {out}")
    chosen = [r for r in records if not a.preset or r.config.preset == a.preset]
    paired = tables.format_paired(tables.paired_comparisons(chosen))
    calibration = tables.format_calibration(tables.reference_calibration(chosen))
    if not paired.empty:
        print("\nIM paired over seeds (positive: IM better; a verdict only where the interval excludes 0):")
        print_table(paired)
    if not calibration.empty:
        print("\nCan the stand-ins tell methods apart? FDT against LDT:")
        print_table(calibration)
    if outside:
        own = tables.own_datasets_table(chosen)
        say(f"\nYour datasets (not in the paper's table: {', '.join(outside)}), test value of the model chosen "
            "on validation, mean ± std over seeds:")
        print_table(own) if not own.empty else print("  no runs of this preset")
        if not own.empty:
            own_csv = out.with_name(out.stem + "_own_datasets.csv")
            own.to_csv(own_csv)
            print(f"Table: {own_csv}")
    return 0


def cmd_prepare(a) -> int:
    from imlib.data.prepare import PREPARERS

    preparer = PREPARERS[a.dataset]
    preparer = preparer.protocols.get(a.protocol, preparer)
    name = a.name or preparer.default_name
    if not name:
        raise ValueError(f"prepare {a.dataset}: --name is required")
    given = {**vars(a), "strict_counts": not a.subset}  # the options, as the preparers name them
    unused = [f"--{k.replace('_', '-')}" for k in ("split_file",) if given[k] is not None and k not in preparer.options]
    if unused:
        raise ValueError(f"prepare {a.dataset}: {', '.join(unused)} is for `imlib prepare folder` only")
    dst = preparer(src=a.src, dst=a.dst or Path(a.prepared_dir) / name, name=name,
                   **{k: given[k] for k in preparer.options if given[k] is not None or k != "splits_dir"})
    manifest = json.loads((dst / "manifest.json").read_text())
    print(preparer.summary.format_map({**manifest, "name": name, "dst": dst}))
    for note in manifest.get("notes", []):
        print(f"note: {note}")
    return 0


def cmd_download(a) -> int:
    from imlib.data.download import DownloadError, download

    dst = Path(a.dst or Path("data/raw") / a.dataset)
    try:
        root = download(a.dataset, dst)
    except DownloadError as e:
        print(e)
        return 1
    print(f"{a.dataset}: ready in {root}; next: imlib prepare {a.dataset} --src {root}")
    return 0


def add_train(sub) -> None:
    from imlib.methods.registry import method_keys

    t = sub.add_parser("train", help="train one method on one dataset with one seed, write its run record")
    _common(t)
    t.add_argument("--dataset", required=True)
    t.add_argument("--method", required=True, choices=sorted(set(method_keys())),
                   help="Study B: a method; Study A: a host (supervised, u2pl, unimatch, imas, unimatch_v2, segkc)")
    t.add_argument("--seed", type=int, default=0)
    _study_a_arguments(t)
    t.add_argument("--force", action="store_true")
    t.set_defaults(func=cmd_train)


def _study_a_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("Study A")
    g.add_argument("--split", default="1/8", help="the labeled split: 1/16, 1/8, 1/4 or 1/2 (U2PL's)")
    g.add_argument("--plugin", default="none", choices=["none", "im"], help="im: the IM plug-in over the host")
    g.add_argument("--variant", default=None, choices=["G", "M", "O"], help="the plug-in's variant (default G)")
    g.add_argument("--plugin-option", nargs="*", metavar="KEY=VALUE",
                   help="an IM plug-in option: n_teachers, blackout, teacher_checkpoint")


def add_batch(sub) -> None:
    from imlib.methods.registry import method_keys

    b = sub.add_parser("batch", help="run a grid of datasets x methods x seeds, resumable")
    _common(b)
    b.add_argument("--datasets", nargs="+", default=None,
                   help="default: the embedded synthetic tasks (Study A: its synthetic Cityscapes stand-in)")
    b.add_argument("--methods", nargs="+", default=None, choices=sorted(set(method_keys())),
                   help="default: every registered method of the study, in the paper's order (Study A: each host "
                        "without IM and with IM variant G, and UniMatch with variants M and O)")
    b.add_argument("--seeds", nargs="+", type=int, default=[0])
    b.add_argument("--splits", nargs="+", default=["1/8"], help="Study A: the labeled splits")
    b.add_argument("--executor", default="notebook", choices=["notebook", "inprocess", "slurm"],
                   help="notebook: papermill runs notebooks/train.py per run (default); inprocess: no kernel; "
                        "slurm: one Slurm job per run through submitit (each runs the notebook)")
    b.add_argument("--slurm-profile", default=None, metavar="TOML",
                   help="slurm: resources (partition, account, gpus_per_node, ...; tables [b.paper], [a.paper])")
    b.add_argument("--slurm", nargs="*", metavar="KEY=VALUE", help="slurm: a resource for every job, e.g. "
                   "partition=gpu timeout_min=120")
    b.add_argument("--detach", action="store_true", help="slurm: submit and return (default: wait for the jobs)")
    b.add_argument("--status", action="store_true",
                   help="show each cell as done / queued / running / failed / not run (records and Slurm's queue)")
    b.add_argument("--rerun-older", action="store_true",
                   help="also rerun runs whose record was written by another commit (regenerate committed records)")
    b.add_argument("--jobs", default="auto", help="runs at once (auto: one per GPU, else one per CPU core, max 8)")
    b.add_argument("--pack-seeds", action="store_true",
                   help="Study B: the seeds of a (dataset, method) train together, their models packed into one "
                        "network (a GPU's throughput; needs --executor inprocess)")
    b.set_defaults(func=cmd_batch)


def add_table(sub) -> None:
    tb = sub.add_parser("table", help="print and write the Study B (or A) table from the run records")
    tb.add_argument("--study", default="b", choices=["a", "b"])
    tb.add_argument("--results-dir", default="data/results")
    tb.add_argument("--preset", default=None, help="only runs of this preset")
    tb.add_argument("--out", default=None)
    tb.set_defaults(func=cmd_table)


def add_prepare(sub) -> None:
    from imlib.data.prepare import PREPARERS

    pr = sub.add_parser("prepare", help="validate and prepare a real dataset: 'folder' (your own data), 'isic2018', "
                        "'suim', 'hela', 'cityscapes'")
    pr.add_argument("dataset", choices=list(PREPARERS))
    pr.add_argument("--src", required=True, help="the official download folder; for folder: images/, masks/, "
                    "optional unlabeled/ and classes.txt")
    pr.add_argument("--name", default=None, help="the dataset's name for `imlib train --dataset` (folder: required)")
    pr.add_argument("--subset", action="store_true",
                    help="isic2018, cityscapes: accept fewer images than the official counts")
    pr.add_argument("--protocol", default="study-b", choices=["study-b", "study-a"],
                    help="cityscapes: study-b (downscaled, from scratch) or study-a (full resolution, U2PL splits)")
    pr.add_argument("--classes", default="trainids", choices=["trainids", "paper"],
                    help="cityscapes study-b: the 19 evaluation classes (default) or the paper's 35 outputs")
    pr.add_argument("--u2pl-splits", default=None,
                    help="cityscapes study-a: a local copy of U2PL's data/splits/cityscapes/ (checked like a download)")
    pr.add_argument("--dst", default=None, help="default: <prepared-dir>/<name>")
    pr.add_argument("--prepared-dir", default="data/prepared")
    pr.add_argument("--splits-dir", default=None, help="where the split lists are kept (default: the paper's datasets "
                    "data/splits/, committed; folder: inside the prepared dataset, <dst>/split/)")
    pr.add_argument("--split-file", default=None,
                    help="folder: the split the dataset ships, one '<image> <part>' a line (part: train, labeled, "
                    "unlabeled, val, test); 'seeded' draws a seeded split even where the source holds one")
    pr.add_argument("--kind", default=None, choices=["binary", "multiclass", "multilabel"], help="default: inferred")
    pr.add_argument("--size", type=int, default=256)
    pr.add_argument("--labeled-fraction", type=float, default=0.1)
    pr.add_argument("--val-fraction", type=float, default=0.1)
    pr.add_argument("--test-fraction", type=float, default=0.2)
    pr.add_argument("--seed", type=int, default=42)
    pr.set_defaults(func=cmd_prepare)


def add_download(sub) -> None:
    dl = sub.add_parser("download", help="fetch, check and unpack a dataset release (resumable); for Cityscapes and "
                        "SUIM, say what to fetch by hand")
    dl.add_argument("dataset", choices=["isic2018", "hela", "suim", "cityscapes"])
    dl.add_argument("--dst", default=None, help="default: data/raw/<dataset>")
    dl.set_defaults(func=cmd_download)


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="imlib", description=__doc__)
    sub = ap.add_subparsers(dest="command", required=True)
    for add in (add_train, add_batch, add_table, add_prepare, add_download):
        add(sub)
    return ap


def main(argv: list[str] | None = None) -> int:
    a = parser().parse_args(argv)
    t0 = time.perf_counter()
    try:
        code = a.func(a)
    except ValueError as e:
        print(f"imlib: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("imlib: interrupted; run the same command again to resume (finished models and records are kept)",
              file=sys.stderr)
        return 130
    if a.command != "table":
        print(f"({time.perf_counter() - t0:.0f} s)")
    return code


if __name__ == "__main__":
    raise SystemExit(main())
