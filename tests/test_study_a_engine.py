"""Study A end to end on the synthetic stand-in: the IM operator in ignore mode, the schedule, the runs of every
host with and without the plug-in, resume after a kill, a 2-process gloo run, the records and the table."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from imlib.im import multiclass_im_ignore
from imlib.records import RecordError, record_path
from imlib.study_a import records as study_a_records
from imlib.study_a import tables
from imlib.study_a.config import make_config
from imlib.study_a.costs import iterations
from imlib.study_a.engine import make_schedule, poly_lr
from imlib.study_a.hosts import get_host
from imlib.study_a.run import run, run_dir

PROJECT = Path(__file__).resolve().parent.parent


def smoke(tmp_path: Path, **kw):
    kw.setdefault("epochs", 1)
    kw.setdefault("max_iterations_per_epoch", 3)
    return make_config("smoke", results_dir=str(tmp_path / "results"), work_dir=str(tmp_path / "work"), **kw)


# --- the IM operator in ignore mode (study_a.md §4, pitfall 15) -------------------------------------------

def test_im_ignore_two_teachers():
    a = torch.tensor([[[0, 1], [2, 3]]])
    b = torch.tensor([[[0, 1], [3, 3]]])
    res = multiclass_im_ignore(torch.stack([a, b]), num_classes=19)
    assert res.label[0, 0].tolist() == [[0, 1], [255, 3]]  # road (0) stays a class, disagreement -> 255
    assert res.mask[0].tolist() == [[False, False], [True, False]]


def test_im_ignore_three_teachers_need_all_to_agree():
    a = torch.tensor([[[5, 5, 7]]])
    b = torch.tensor([[[5, 6, 7]]])
    c = torch.tensor([[[5, 5, 8]]])
    res = multiclass_im_ignore(torch.stack([a, b, c]), num_classes=19)
    assert res.label[0, 0].tolist() == [[5, 255, 255]]
    assert res.mask.sum() == 2


# --- the schedule -----------------------------------------------------------------------------------------

def test_poly_lr_is_per_iteration_power_09():
    assert poly_lr(0.01, 0, 100) == 0.01
    assert poly_lr(0.01, 50, 100) == pytest.approx(0.01 * 0.5**0.9)
    assert poly_lr(0.01, 99, 100) < poly_lr(0.01, 98, 100)


def test_lr_scales_linearly_with_the_total_batch_and_says_so(tmp_path):
    cfg = make_config("paper", host="unimatch", total_batch=4, results_dir=str(tmp_path))
    recipe = cfg.recipe
    sched = make_schedule(cfg, 186, 2789, world_size=1)
    assert sched.lr == pytest.approx(recipe.lr * 4 / recipe.total_batch)
    assert "linear scaling" in sched.lr_rule
    own = make_schedule(make_config("paper", host="unimatch", results_dir=str(tmp_path)), 186, 2789, world_size=4)
    assert own.lr == recipe.lr and "host's LR" in own.lr_rule
    # an epoch is one pass over the unlabeled list, sharded over the processes
    assert own.iterations_per_epoch == -(-2789 // 4) // (recipe.total_batch // 4)


def test_iterations_match_the_hosts_logs():
    """study_a.md §5.2 (from the configs and the shipped logs): UniMatch 1/16 83,760; Supervised 2,640; U2PL 34,800."""
    assert iterations(get_host("unimatch").RECIPE, "1/16") == 83_760
    assert iterations(get_host("supervised").RECIPE, "1/16", uses_unlabeled=False) == 2_640
    assert iterations(get_host("u2pl").RECIPE, "1/16") == 34_800  # 2 per GPU x 8 GPUs


def test_teachers_of_an_im_cell_are_disjoint_host_runs(tmp_path):
    cfg = smoke(tmp_path, host="unimatch", plugin="im", seed=1)
    teachers = cfg.teacher_configs()
    assert [t.seed for t in teachers] == [2, 3] and all(t.plugin == "none" for t in teachers)
    assert cfg.run_id.startswith("study_a/synthetic-cityscapes/unimatch+im/1_8/smoke-seed1")


def test_bad_settings_fail_by_name(tmp_path):
    with pytest.raises(ValueError, match="variant M"):
        smoke(tmp_path, host="supervised", plugin="im", plugin_options={"variant": "M"})
    with pytest.raises(ValueError, match="unknown Study A config keys"):
        smoke(tmp_path, host="unimatch", bogus=1)
    with pytest.raises(ValueError, match="preset"):
        make_config("mini", host="unimatch")


# --- runs end to end --------------------------------------------------------------------------------------

@pytest.mark.parametrize("host", ["supervised", "u2pl", "unimatch", "imas", "unimatch_v2", "segkc"])
def test_every_host_runs_and_writes_a_valid_record(tmp_path, host):
    cfg = smoke(tmp_path, host=host)
    rec = run(cfg, progress=False)
    loaded = study_a_records.load(record_path(cfg.results_dir, cfg.run_id))
    assert loaded.result.best_miou == rec.result.best_miou
    assert 0 <= rec.result.best_miou <= 100
    networks = set(rec.result.last_scores)
    if host == "segkc":  # both networks evaluated, the junior (DINOv2-S) reported
        assert networks == {"junior", "senior"} and rec.result.best_network == "junior"
        assert rec.result.last_network == "junior" and "re-implementation" in rec.host.recipe["source"]
    else:
        assert networks == ({"student", "teacher"} if get_host(host).RECIPE.ema else {"student"})
    assert rec.host.recipe["optimizer"] == ("adamw" if host in ("unimatch_v2", "segkc") else "sgd")
    assert rec.data.synthetic and rec.data.stands_in_for == "cityscapes"
    assert all(np.isfinite(h["loss"]) for h in rec.history)


def test_plugin_variants_end_to_end(tmp_path):
    g = run(smoke(tmp_path, host="unimatch", plugin="im"), progress=False)
    assert len(g.plugin.teachers) == 2 and g.plugin.variant == "G"
    assert g.data.labeled + g.data.unlabeled == 32
    assert g.plugin.im_pairs == g.data.unlabeled and 0 <= g.plugin.im_fraction <= 1
    # the teachers' records are the "without IM" runs of seeds 0 and 1
    for t in g.plugin.teachers:
        assert record_path(str(tmp_path / "results"), t).exists()
    labels = sorted((run_dir(smoke(tmp_path, host="unimatch", plugin="im")) / "im_labels").glob("*.png"))
    assert len(labels) == g.data.unlabeled
    m = run(smoke(tmp_path, host="unimatch", plugin="im", plugin_options={"variant": "M"}), progress=False)
    assert m.plugin.variant == "M" and m.plugin.teachers == g.plugin.teachers  # the same teachers, reused
    o = run(smoke(tmp_path, host="unimatch", plugin="im", plugin_options={"variant": "O"}), progress=False)
    assert o.plugin.variant == "O" and o.plugin.teachers == []
    frame = tables.variants_table(study_a_records.load_all(tmp_path / "results"))
    assert set(frame.plug_in) == {"without IM", "+IM (G: IM as data)", "+IM (M: masked losses)", "+IM (O: online)"}
    comp = tables.comparison(study_a_records.load_all(tmp_path / "results"))
    row = comp[(comp.method == "UniMatch") & (comp.split == "1/8")].iloc[0]
    assert "†" in row["reproduced without IM"] and "2 seeds" in row["reproduced without IM"]
    assert "†" in row["reproduced with IM"]
    assert (comp[comp.method == "U2PL"]["reproduced with IM"] == "not run").all()


def test_resume_after_a_kill_mid_run_gives_the_same_record(tmp_path):
    """Epoch 1 of 2 finishes, the process is killed during epoch 2; the rerun resumes from the checkpoint."""
    kw = dict(host="unimatch", epochs=2, max_iterations_per_epoch=2)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the killed process: a float sum's order depends on the thread count
    try:
        full = run(smoke(tmp_path / "a", **kw), progress=False)
    finally:
        torch.set_num_threads(threads)

    cfg = smoke(tmp_path / "b", **kw)
    code = f"""
import imlib.study_a.engine as engine
from imlib.study_a.config import make_config
from imlib.study_a.run import run
original = engine.evaluate_networks
def die_in_epoch_two(networks, val, num_classes, cfg, world, multiple):
    import json, os
    if os.path.exists({str(run_dir(cfg) / 'checkpoint.pt')!r}):
        os._exit(9)  # killed: the second epoch's evaluation never happens
    return original(networks, val, num_classes, cfg, world, multiple)
engine.evaluate_networks = die_in_epoch_two
cfg = make_config("smoke", results_dir={cfg.results_dir!r}, work_dir={cfg.work_dir!r}, host="unimatch", epochs=2,
                  max_iterations_per_epoch=2, eval_every=1)
run(cfg, progress=False)
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=PROJECT,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 9, proc.stderr[-2000:]
    assert not record_path(cfg.results_dir, cfg.run_id).exists()  # no half-written record
    torch.set_num_threads(1)
    try:
        resumed = run(cfg, progress=False)
    finally:
        torch.set_num_threads(threads)
    assert resumed.timing.resumed_from_epoch == 1
    assert [h["loss"] for h in resumed.history] == pytest.approx([h["loss"] for h in full.history], rel=1e-5)
    assert resumed.result.last_scores == pytest.approx(full.result.last_scores, rel=1e-5)


def test_two_process_gloo_run(tmp_path):
    """torchrun with 2 CPU processes: DDP, sharded data and evaluation, one record written by rank 0."""
    results, work = tmp_path / "results", tmp_path / "work"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "imlib",
           "train", "--study", "a", "--dataset", "synthetic-cityscapes", "--method", "unimatch", "--preset", "smoke",
           "--results-dir", str(results), "--work-dir", str(work), "--quiet",
           "--set", "epochs=1", "max_iterations_per_epoch=2"]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=PROJECT, timeout=600,
                          env={**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"})
    errors = [line for line in proc.stderr.splitlines() if "imlib: error" in line or "Error:" in line]
    assert proc.returncode == 0, "\n".join(errors[:10]) + "\n" + proc.stderr[-3000:]
    recs = study_a_records.load_all(results)
    assert len(recs) == 1
    rec = recs[0]
    assert rec.schedule.world_size == 2 and rec.schedule.batch_per_process == 1
    assert "linear scaling" not in rec.schedule.lr_rule or rec.schedule.total_batch != rec.host.recipe["total_batch"]


def test_a_broken_record_names_the_file(tmp_path):
    bad = tmp_path / "study_a" / "x.json"
    bad.parent.mkdir(parents=True)
    bad.write_text('{"record_type": "study-a", "schema": 1, "run_id": 3}')
    with pytest.raises(RecordError, match="x.json"):
        study_a_records.load_all(tmp_path)


def test_every_committed_study_a_record_loads():
    committed = PROJECT / "data" / "results"
    recs = study_a_records.load_all(committed)
    files = sorted((committed / "study_a").rglob("*.json")) if (committed / "study_a").exists() else []
    assert len(recs) == len(files)
    for rec in recs:
        assert rec.result.best_miou >= rec.result.last_miou - 1e-9  # best over evaluations includes the last
        assert rec.data.synthetic == (rec.config.dataset == "synthetic-cityscapes")
