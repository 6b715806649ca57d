"""Tiny end-to-end runs of every method on every task kind, run records, the table and the CLI."""
import json

import numpy as np
import pytest

from imlib import batch, methods, records, tables
from imlib.cli import main
from imlib.config import make_config
from imlib.methods.registry import get_method, method_keys

TINY = dict(image_size=32, n_train=40, n_val=6, n_test=6, epochs=2, steps_per_epoch=2, batch_size=4,
            n_models=2, n_students=2, generations=1, aug_copies=1, alpha=0.25)
DATASETS = ("synthetic-lesion", "synthetic-cells", "synthetic-scenes")


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return tmp_path_factory.mktemp("work")


def cfg(work, **kw):
    return make_config("smoke", **{**TINY, "work_dir": str(work / "models"), "results_dir": str(work / "results"), **kw})


@pytest.mark.parametrize("dataset", DATASETS)
def test_every_method_runs_on_every_task_kind(dataset, work):
    recs = {}
    for m in method_keys(kind="reference") + method_keys(kind="generational"):
        rec = methods.run(cfg(work, dataset=dataset, method=m), progress=False)
        json.dumps(rec.to_dict())  # serialisable
        recs[m] = rec
        metric = rec.task.metric
        assert metric in rec.result.test and metric in rec.result.val
        assert rec.dataset.synthetic and rec.dataset.stands_in_for in ("isic2018", "hela", "suim")
        assert rec.environment.git_commit and rec.environment.packages["torch"]
    assert recs["aldt"].generations[0].train_images == 2 * recs["ldt"].dataset.sizes["labeled"]
    assert recs["fdt"].generations[0].train_images == 40
    for m in ("me", "im"):
        gens = recs[m].generations
        assert [g.generation for g in gens] == [0, 1] and recs[m].result.generation == 1
        # generation 0 is the run's LDT models, reused from the LDT run rather than trained again
        assert all(x.reused for x in gens[0].models)
        assert gens[0].test == recs["ldt"].result.test
        assert len(gens[1].teachers) == 2 and len(gens[1].models) == 2
    assert recs["me"].generations[1].pseudo_labels.mask_fraction == 0
    shown = recs["im"].generations[1].pseudo_labels.showcase
    mask, label = shown.mask.decode(), shown.label.decode()
    assert mask.shape == (3, 32, 32) and mask.dtype == np.uint8 and label.shape[0] == 3
    assert 0 <= recs["im"].generations[1].pseudo_labels.mask_fraction <= 1


@pytest.mark.parametrize("dataset", DATASETS)
def test_semi_supervised_baselines_write_full_records(dataset, work):
    for m in method_keys(kind="semi-supervised"):
        rec = methods.run(cfg(work, dataset=dataset, method=m, ssl_models=2), progress=False)
        json.dumps(rec.to_dict())
        gen = rec.generations[0]
        assert rec.result.generation == 0 and len(gen.models) == 2
        defaults = {k: o.default for k, o in get_method(m).options.items()}
        assert rec.config.options == json.loads(json.dumps(defaults))  # every option, as JSON keeps it
        assert gen.train_images == 40  # the labeled and the unlabeled images
        history = gen.models[0].history
        assert len(history) == 2 and "sup" in history[0]


def test_method_options_reach_the_method_and_bad_ones_fail(work):
    rec = methods.run(cfg(work, dataset="synthetic-lesion", method="fixmatch", options={"tau": 0.5}), progress=False)
    assert rec.config.options["tau"] == 0.5
    with pytest.raises(ValueError, match="unknown options.*tua"):
        cfg(work, dataset="synthetic-lesion", method="fixmatch", options={"tua": 0.5})
    with pytest.raises(ValueError, match="method 'ldt': unknown options"):
        cfg(work, method="ldt", options={"mode": "ignore"})


def test_method_options_change_a_methods_models_but_not_the_shared_references(work):
    """The cache key of a model comes from the fields its scope declares: an option of IM retrains IM's
    students, never the LDT teachers it shares with LDT and ME."""
    from imlib.methods.shared import Run

    plain, dilated = (Run(cfg(work, method="im", options=o), progress=False) for o in ({}, {"dilate": 3}))
    assert plain.model_key("reference", "ldt", 0) == dilated.model_key("reference", "ldt", 0)
    assert plain.model_key("method", "im-g1", 0) != dilated.model_key("method", "im-g1", 0)
    other_seed = Run(cfg(work, method="im", seed=1), progress=False)
    assert plain.model_key("reference", "ldt", 0) != other_seed.model_key("reference", "ldt", 0)


def test_every_option_has_a_reason():
    table = tables.hyperparameter_table()
    assert set(table.method) >= {"FixMatch", "FPL", "CrossMatch", "iMAS", "U2PL", "UniMatch", "IM"}
    assert (table.why.str.len() > 0).all()


def test_selection_uses_validation_not_test(work):
    rec = methods.run(cfg(work, dataset="synthetic-lesion", method="ldt", n_models=3, n_teachers=2), progress=False)
    models = rec.generations[0].models
    vals = [m.val["iou"] for m in models]
    assert vals == sorted(vals, reverse=True) and rec.generations[0].selected == models[0].name


def test_bad_config_is_a_clear_error(work):
    with pytest.raises(ValueError, match="at least 2 teachers"):
        cfg(work, n_teachers=1)
    with pytest.raises(ValueError, match="unknown config keys"):
        cfg(work, epoch=3)
    with pytest.raises(ValueError, match="unknown method"):
        cfg(work, method="nope")
    with pytest.raises(ValueError, match="unknown dataset"):
        methods.run(cfg(work, dataset="isic9"))
    with pytest.raises(ValueError, match="option mode must be one of 'blackout', 'ignore'"):
        cfg(work, method="im", options={"mode": "drop"})


def test_records_table_and_cli(work, tmp_path, capsys):
    out = tmp_path / "results"
    args = ["--results-dir", str(out), "--work-dir", str(work / "models"), "--quiet",
            "--set"] + [f"{k}={v}" for k, v in TINY.items()]
    assert main(["train", "--dataset", "synthetic-lesion", "--method", "ldt", *args]) == 0
    path = records.record_path(out, make_config("smoke", dataset="synthetic-lesion", method="ldt", **TINY).run_id)
    rec = records.load(path)
    assert rec.config.n_train == 40
    assert not list(path.parent.glob(".*tmp*"))  # no temporary files left behind
    frame = tables.records_frame([rec])
    assert set(frame.columns) >= {"dataset", "method", "metric", "value", "synthetic", "commit"}
    assert main(["table", "--results-dir", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "synthetic-lesion †" in printed and "67.1" in printed  # the paper's LDT ISIC number beside ours
    comp = tables.study_b_comparison([rec])
    row = comp[(comp.method == "ldt") & (comp.paper_dataset == "isic2018")].iloc[0]
    assert row.synthetic and row.delta is None and row.reported == 67.1
    assert row.reproduced == pytest.approx(rec.result.test["iou"] * 100)
    other = records.from_dict({**rec.to_dict(), "run_id": "x",
                               "config": {**rec.config.to_dict(), "method": "im", "seed": 3},
                               "timing": {**rec.to_dict()["timing"], "total_s": 60.0}})
    summary = tables.provenance_summary([rec, other])
    assert len(summary) == 1 and summary.runs[0] == 2 and summary.methods[0] == "im, ldt"
    assert summary.seeds[0] == "0, 3" and summary.data[0] == "synthetic stand-in for isic2018"
    assert summary.device[0].startswith("cpu")
    assert tables.own_datasets_table([rec]).empty  # a stand-in for ISIC belongs to the paper's table


def test_cli_options_reach_the_run(work, tmp_path):
    out = tmp_path / "results"
    args = ["--results-dir", str(out), "--work-dir", str(work / "models"), "--quiet",
            "--set"] + [f"{k}={v}" for k, v in TINY.items()]
    assert main(["train", "--dataset", "synthetic-scenes", "--method", "im", *args, "--option", "mode=ignore"]) == 0
    (path,) = out.rglob("*.json")
    rec = records.load(path)
    assert path.stem.startswith("smoke-seed0-v")  # TINY and the option make it a variant of the preset
    assert "option.mode='ignore'" in rec.config.variant
    assert rec.config.options == {"mode": "ignore", "erode": 0, "dilate": 0, "filter": None}


def _fake_record(method, seed, value, name="mine", metric="miou", higher=True, stands_in_for=None, val=None,
                 preset="smoke"):
    """A minimal valid record of a run on a dataset of one's own (or a synthetic stand-in)."""
    scores, val_scores = {metric: value}, {metric: value if val is None else val}
    gen = {"generation": 0, "selected": f"{method}-0", "val": val_scores, "test": scores, "test_mean": value,
           "test_std": 0.0, "models": []}
    return records.from_dict({
        "schema": records.SCHEMA_VERSION, "run_id": f"study_b/{name}/{method}/{preset}-seed{seed}", "created": "now",
        "config": make_config(preset, dataset=name, method=method, seed=seed).to_dict(),
        "dataset": {"name": name, "synthetic": stands_in_for is not None, "stands_in_for": stands_in_for, "sizes": {},
                    "provenance": {}, "alpha": 1.0},
        "task": {"kind": "multiclass", "metric": metric, "higher_is_better": higher, "classes": []},
        "result": {"generation": 0, "model": f"{method}-0", "val": val_scores, "test": scores,
                   "final_generation_test": scores, "candidates": 1, "candidates_test_mean": value},
        "generations": [gen], "timing": {"total_s": 1.0, "data_s": 0.0, "train_s": 1.0},
        "environment": {"python": "3", "platform": "p", "packages": {}, "device": {"type": "cpu"}, "git_commit": "c"}})


def _stand_in(method, values, dataset="synthetic-lesion", metric="iou", paper="isic2018", vals=None, higher=True):
    return [_fake_record(method, seed, v, name=dataset, metric=metric, higher=higher, stands_in_for=paper,
                         val=None if vals is None else vals[seed], preset="mini") for seed, v in enumerate(values)]


def test_study_b_table_shows_intervals_and_seeds():
    recs = _stand_in("ldt", [0.60, 0.62, 0.64]) + _stand_in("im", [0.70, 0.70, 0.70])
    comp = tables.study_b_comparison(recs)
    row = comp[(comp.method == "ldt") & (comp.paper_dataset == "isic2018")].iloc[0]
    assert row.seeds == 3 and row.reproduced == pytest.approx(62.0)
    assert (row.ci_low, row.ci_high) == (pytest.approx(62 - 4.968, abs=1e-2), pytest.approx(62 + 4.968, abs=1e-2))
    wide = tables.format_study_b(comp)
    assert wide.loc["Labeled Only (LDT)", ("ISIC 2018 · IoU %", "this project: synthetic-lesion †, mini")] \
        == "62.0 ± 5.0 (n=3) †"


def test_paired_comparisons_say_what_the_seeds_resolve():
    """IM vs LDT (clearly better on every seed), vs ME (mixed: no detectable difference) and vs the
    semi-supervised baseline best on *validation* (FixMatch here, although U2PL is better on test)."""
    recs = (_stand_in("ldt", [0.50, 0.60, 0.55]) + _stand_in("im", [0.60, 0.71, 0.64])
            + _stand_in("me", [0.65, 0.66, 0.60]) + _stand_in("fixmatch", [0.55, 0.60, 0.60], vals=[0.9, 0.9, 0.9])
            + _stand_in("u2pl", [0.80, 0.80, 0.80], vals=[0.1, 0.1, 0.1]))
    comp = tables.paired_comparisons(recs).set_index("comparison")
    assert comp.loc["IM vs LDT", "verdict"] == "IM better" and comp.loc["IM vs LDT", "im_better_on"] == 3
    assert comp.loc["IM vs LDT", "difference"] == pytest.approx(10.0)
    assert comp.loc["IM vs Model Ensemble", "verdict"] == "no detectable difference"
    best = [c for c in comp.index if c.startswith("IM vs best semi-supervised")]
    assert best == ["IM vs best semi-supervised (FixMatch, on validation)"]
    # MCCE: lower is better, so fewer miscounted cells is a positive difference for IM
    cells = (_stand_in("ldt", [3.0, 3.2, 3.1], "synthetic-cells", "mcce", "hela", higher=False)
             + _stand_in("im", [2.0, 2.1, 2.2], "synthetic-cells", "mcce", "hela", higher=False))
    row = tables.paired_comparisons(cells).iloc[0]
    assert row.difference == pytest.approx(1.0) and row.verdict == "IM better"


def test_reference_calibration_rule():
    ok = tables.reference_calibration(_stand_in("ldt", [0.50, 0.52, 0.51]) + _stand_in("fdt", [0.60, 0.61, 0.62]))
    assert ok.holds.all() and ok.gain[0] == pytest.approx(10.0)
    close = tables.reference_calibration(_stand_in("ldt", [0.50, 0.60, 0.40]) + _stand_in("fdt", [0.56, 0.57, 0.55]))
    assert not close.holds.any() and not close["intervals separate"].any()
    cells = tables.reference_calibration(
        _stand_in("ldt", [3.0, 3.1, 2.9], "synthetic-cells", "mcce", "hela", higher=False)
        + _stand_in("fdt", [2.6, 2.6, 2.6], "synthetic-cells", "mcce", "hela", higher=False))
    assert cells.gain[0] == pytest.approx(0.4 / 3) and not cells.holds[0]  # 13 % < the 20 % asked


def test_own_datasets_get_a_table_of_their_own():
    """Runs on a prepared dataset of one's own: mean ± std over seeds per method, in %, methods in the
    paper's order, and never mixed into the paper's columns."""
    own = tables.own_datasets_table([_fake_record("im", 0, 0.50), _fake_record("im", 1, 0.60),
                                     _fake_record("ldt", 0, 0.40),
                                     _fake_record("me", 0, 2.5, name="cells", metric="mcce", higher=False)])
    assert list(own.index) == ["Labeled Only (LDT)", "Model Ensemble (ME)", "IM"]
    assert own.loc["IM", "mine · miou % ↑ (smoke)"] == "55.0 ± 7.1 (n=2)"
    assert own.loc["Labeled Only (LDT)", "mine · miou % ↑ (smoke)"] == "40.0 (n=1)"
    assert own.loc["Model Ensemble (ME)", "cells · mcce ↓ (smoke)"] == "2.5 (n=1)"
    assert own.loc["IM", "cells · mcce ↓ (smoke)"] == "not run"
    assert tables.study_b_comparison([_fake_record("im", 0, 0.5)]).reproduced.isna().all()


def test_batch_skips_finished_runs_and_reports_failures(work, tmp_path):
    over = {**TINY, "work_dir": str(work / "models"), "results_dir": str(tmp_path)}
    runs = batch.expand_grid("b", "smoke", ["synthetic-lesion", "isic9"], ["ldt"], [0], over)
    rep = batch.run_batch(runs, executor="inprocess", progress=False)
    assert rep.done == [runs[0].run_id] and not rep.ok
    assert "unknown dataset" in rep.failed[runs[1].run_id]
    assert (tmp_path / "_failures").exists()
    again = batch.run_batch(runs[:1], executor="inprocess", progress=False)
    assert again.skipped == [runs[0].run_id] and again.ok


def test_grid_defaults_are_the_registered_methods_in_the_papers_order():
    runs = batch.expand_grid("b", "smoke", seeds=[0])
    assert [r.method for r in runs[:12]] == method_keys(study="b")
    planned = batch.plan(runs[:12])
    order = [c.method for c, _ in planned]
    ldt = runs[method_keys(study="b").index("ldt")].run_id
    assert {c.method: needs for c, needs in planned if needs} == {"me": {ldt}, "im": {ldt}}  # their LDT models
    assert order[2] == "ldt" and order[3:9] == method_keys(kind="semi-supervised")  # then the slowest first


def test_plan_waits_only_for_the_own_seeds_reference_models():
    runs = batch.expand_grid("b", "smoke", ["synthetic-lesion"], ["im", "me", "ldt", "fixmatch"], [0, 1])
    needs = {(c.method, c.seed): n for c, n in batch.plan(runs)}
    ids = {(c.method, c.seed): c.run_id for c in runs}
    assert needs[("im", 1)] == {ids[("ldt", 1)]} and needs[("me", 0)] == {ids[("ldt", 0)]}
    assert needs[("fixmatch", 0)] == needs[("ldt", 0)] == set()
    # without an LDT run in the batch, the first run that reuses the seed's models trains them, the other waits
    alone = {(c.method, c.seed): n for c, n in batch.plan([r for r in runs if r.method in ("im", "me")])}
    assert alone[("im", 0)] == set() and alone[("me", 0)] == {ids[("im", 0)]}
    # another training setting is another set of LDT models: no waiting across it
    other = batch.expand_grid("b", "smoke", ["synthetic-lesion"], ["im"], [0], {"lr": 1e-3})
    assert dict((c.run_id, n) for c, n in batch.plan(runs + other))[other[0].run_id] == set()


def test_batch_in_parallel_workers(work, tmp_path):
    over = {**TINY, "work_dir": str(work / "models"), "results_dir": str(tmp_path)}
    runs = batch.expand_grid("b", "smoke", ["synthetic-cells"], ["ldt", "im"], [0], over)
    rep = batch.run_batch(runs, jobs=2, executor="inprocess", progress=False)
    assert rep.ok and sorted(rep.done) == sorted(c.run_id for c in runs)
    im = records.load(records.record_path(tmp_path, runs[1].run_id))
    assert all(m.reused for m in im.generations[0].models)  # LDT ran first and was reused


def test_rerun_older_regenerates_records_of_other_commits(work, tmp_path):
    over = {**TINY, "work_dir": str(work / "models"), "results_dir": str(tmp_path)}
    runs = batch.expand_grid("b", "smoke", ["synthetic-lesion"], ["ldt"], [0], over)
    assert batch.run_batch(runs, executor="inprocess", progress=False).done
    path = records.record_path(tmp_path, runs[0].run_id)
    assert batch.run_batch(runs, executor="inprocess", progress=False, rerun_older=True).skipped  # same commit
    rec = json.loads(path.read_text())
    rec["environment"]["git_commit"] = "0" * 40  # as if an older commit had written it
    records.write_json_atomic(rec, path)
    assert batch.run_batch(runs, executor="inprocess", progress=False).skipped
    assert batch.run_batch(runs, executor="inprocess", progress=False, rerun_older=True).done


def test_batch_through_the_train_notebook(work, tmp_path):
    """The default executor: papermill runs notebooks/train.py, which writes the record; a bad
    parameter fails that run only, with the traceback's tail reported."""
    over = {**TINY, "work_dir": str(work / "models"), "results_dir": str(tmp_path)}
    good = batch.expand_grid("b", "smoke", ["synthetic-lesion"], ["im"], [0], {**over, "options": {"mode": "ignore"}})
    bad = batch.expand_grid("b", "smoke", ["synthetic-lesion"], ["ldt"], [1], {**over, "labeled_fraction": 0.1})
    bad[0].labeled_fraction = 7.0  # rejected inside the notebook by make_config
    rep = batch.run_batch(good + bad, progress=False)
    assert rep.done == [good[0].run_id] and list(rep.failed) == [bad[0].run_id]
    assert "labeled_fraction" in rep.failed[bad[0].run_id]
    path = records.record_path(tmp_path, good[0].run_id)
    executed = path.with_suffix(".ipynb")
    assert executed.exists()
    rec = records.load(path)
    assert rec.config.n_train == 40 and rec.config.options["mode"] == "ignore"  # the options crossed papermill
    assert "record written to" in executed.read_text()  # the notebook's own cells ran and printed


def test_a_batch_worker_keeps_its_kernel_between_runs_and_replaces_it_after_a_failure(work, tmp_path, monkeypatch):
    over = {**TINY, "work_dir": str(work / "models"), "results_dir": str(tmp_path)}
    runs = batch.expand_grid("b", "smoke", ["synthetic-lesion"], ["ldt"], [0, 1], over)
    bad = batch.expand_grid("b", "smoke", ["synthetic-lesion"], ["ldt"], [2], {**over, "labeled_fraction": 0.1})[0]
    bad.labeled_fraction = 7.0  # rejected inside the notebook
    monkeypatch.setattr(batch, "IN_WORKER", True)
    try:
        assert batch.run_one(runs[0])[1] is None
        kernel = batch._WORKER_KERNEL
        assert kernel is not None and kernel.is_alive()
        assert batch.run_one(runs[1])[1] is None
        assert batch._WORKER_KERNEL is kernel  # the second run reused it
        assert "labeled_fraction" in batch.run_one(bad)[1]
        assert batch._WORKER_KERNEL is None and not kernel.is_alive()  # dropped after the failure
    finally:
        batch._drop_worker_kernel()
    first, second = (records.load(records.record_path(tmp_path, r.run_id)) for r in runs)
    assert first.config.seed == 0 and second.config.seed == 1  # each run had its own parameters


def test_table_cli_prints_intervals_paired_comparisons_and_calibration(tmp_path, capsys):
    recs = (_stand_in("ldt", [0.50, 0.52, 0.51]) + _stand_in("fdt", [0.60, 0.61, 0.62])
            + _stand_in("im", [0.58, 0.60, 0.59]))
    for r in recs:
        records.save(r, records.record_path(tmp_path, r.run_id))
    assert main(["table", "--results-dir", str(tmp_path), "--preset", "mini"]) == 0
    out = capsys.readouterr().out
    assert "51.0 ± 2.5 (n=3) †" in out  # LDT: mean ± t half-width
    assert "IM vs LDT" in out and "IM better" in out and "3 / 0 of 3 seeds" in out
    assert "FDT against LDT" in out and "10.0 points" in out
