"""imlib batch --executor slurm: resources per study and preset from a profile, the status of every cell from
the records and the queue, and (marked ``slurm``) a tiny grid through the real one-node Slurm of
scripts/slurm-dev-cluster, including a cell killed by scancel and rerun by the next batch."""
import json
import subprocess
import time

import pytest
from slurm_cluster import slurm_cluster  # noqa: F401

from imlib import records, slurm
from imlib.batch import expand_grid
from imlib.cli import main

TINY = dict(image_size=32, n_train=40, n_val=6, n_test=6, epochs=2, steps_per_epoch=2, batch_size=4, alpha=0.25,
            n_models=2, n_students=2, generations=1)


def test_resources_come_from_defaults_profile_table_and_overrides(tmp_path):
    assert slurm.resources("a", "paper").gpus_per_node == 4 and slurm.resources("b", "smoke").gpus_per_node == 0
    profile = tmp_path / "cluster.toml"
    profile.write_text('partition = "gpu"\naccount = "lab"\n[a.paper]\nnodes = 2\ntimeout_min = 600\n')
    res = slurm.resources("a", "paper", profile, {"timeout_min": 30})
    assert (res.partition, res.account, res.nodes, res.timeout_min, res.gpus_per_node) == ("gpu", "lab", 2, 30, 4)
    assert slurm.resources("b", "paper", profile).nodes == 1  # the [a.paper] table is Study A's only
    params = res.submitit_parameters("x")
    assert params["slurm_partition"] == "gpu" and params["gpus_per_node"] == 4 and params["tasks_per_node"] == 4
    profile.write_text('[b.smoke]\ngpu = 1\n')
    with pytest.raises(ValueError, match=r"cluster.toml \[b.smoke\]: unknown key 'gpu'"):
        slurm.resources("b", "smoke", profile)
    with pytest.raises(ValueError, match="--slurm: mem_gb must be float, got 'lots'"):
        slurm.resources("b", "smoke", None, {"mem_gb": "lots"})


def test_status_reads_records_and_job_files_without_a_scheduler(tmp_path, monkeypatch, capsys):
    results = tmp_path / "results"
    sets = [f"{k}={v}" for k, v in TINY.items()]
    common = ["--datasets", "synthetic-lesion", "--results-dir", str(results), "--work-dir", str(tmp_path / "work"),
              "--quiet", "--set", *sets]
    assert main(["batch", "--methods", "ldt", "--executor", "inprocess", *common]) == 0
    cfgs = expand_grid("b", "smoke", ["synthetic-lesion"], ["ldt", "fdt", "im"], [0],
                       {"results_dir": str(results), "work_dir": str(tmp_path / "work"), **TINY})
    jobs = {cfgs[2].run_id: {"job_id": "42", "submitted": "2026-12-01T10:00:00", "logs": "/logs/im"}}
    (results / "_slurm").mkdir(parents=True)
    (results / "_slurm" / "jobs.json").write_text(json.dumps(jobs))

    def no_squeue(ids):
        raise OSError("squeue: not found")

    monkeypatch.setattr(slurm, "scheduler_states", no_squeue)
    assert [(r[0].split("/")[-2], r[1]) for r in slurm.status(cfgs)] == [("ldt", "done"), ("fdt", "not run"),
                                                                         ("im", "unknown")]
    monkeypatch.setattr(slurm, "scheduler_states", lambda ids: {"42": "RUNNING"})
    assert slurm.status(cfgs)[2][1:] == ("running", "job 42 RUNNING")
    monkeypatch.setattr(slurm, "scheduler_states", lambda ids: {})
    assert slurm.status(cfgs)[2][1:] == ("failed", "job 42, logs in /logs/im")
    capsys.readouterr()
    assert main(["batch", "--methods", "ldt", "fdt", "im", "--status", *common]) == 0
    assert "status: 1 done, 1 not run, 1 failed" in capsys.readouterr().out


def _grid(tmp_path, *methods, extra=()):
    sets = [f"{k}={v}" for k, v in TINY.items()]
    return ["batch", "--executor", "slurm", "--datasets", "synthetic-lesion", "--methods", *methods,
            "--results-dir", str(tmp_path / "results"), "--work-dir", str(tmp_path / "work"), "--quiet",
            "--slurm", "cpus_per_task=1", "mem_gb=1", "timeout_min=15", "--set", *sets, *extra]


@pytest.mark.slurm
@pytest.mark.slow
def test_a_tiny_grid_on_a_real_slurm_and_a_cancelled_cell_rerun(tmp_path, slurm_cluster, capsys):  # noqa: F811
    t0 = time.perf_counter()
    assert main(_grid(tmp_path, "ldt", "im")) == 0  # IM waits for LDT (afterok)
    out = capsys.readouterr().out
    assert "(after " in out and out.count("ok     ") == 2, out
    for rec in records.load_all(tmp_path / "results"):
        assert rec.result.test  # complete records, written by the jobs
    logs = list((tmp_path / "results" / "_slurm").glob("*/*_log.out"))
    assert len(logs) == 2  # a log per cell
    grid_s = time.perf_counter() - t0

    # a cell killed mid-run by scancel is reported, and the next batch submits it again and completes it
    assert main(_grid(tmp_path, "fdt", extra=("--detach",))) == 0
    job_id = json.loads((tmp_path / "results" / "_slurm" / "jobs.json").read_text())
    job_id = next(j["job_id"] for r, j in job_id.items() if "/fdt/" in r)
    deadline = time.time() + 120
    while slurm.scheduler_states([job_id]).get(job_id) != "RUNNING" and time.time() < deadline:
        time.sleep(1)
    time.sleep(3)  # inside the notebook now
    subprocess.run(["scancel", job_id], check=True)
    while slurm.scheduler_states([job_id]).get(job_id) in slurm.ACTIVE:
        time.sleep(1)
    capsys.readouterr()
    assert main(_grid(tmp_path, "ldt", "fdt", extra=("--status",))) == 0
    assert "status: 1 done, 1 failed" in capsys.readouterr().out
    assert main(_grid(tmp_path, "ldt", "fdt")) == 0
    out = capsys.readouterr().out
    assert out.count("submitted ") == 1 and "ok     " in out and "already done" in out
    fdt = [r for r in records.load_all(tmp_path / "results") if r.config.method == "fdt"]
    assert len(fdt) == 1 and fdt[0].result.test
    print(f"slurm grid of 2 cells: {grid_s:.0f} s; with the cancelled cell: {time.perf_counter() - t0:.0f} s")


def test_the_books_example_profile_is_valid():
    from imlib.paths import PROJECT_ROOT

    example = PROJECT_ROOT / "scripts" / "slurm-profile.example.toml"
    res = slurm.resources("a", "paper", example)
    assert (res.nodes, res.tasks_per_node, res.gpus_per_node, res.partition) == (2, 4, 4, "gpu")
    assert slurm.resources("b", "smoke", example).partition == "cpu"


@pytest.mark.slurm
@pytest.mark.slow
def test_a_study_a_run_over_two_tasks_gets_torchruns_environment_from_slurm(tmp_path, slurm_cluster):  # noqa: F811
    """Two Slurm tasks become two ranks of one run (gloo on the CPU here; NCCL over GPUs and nodes)."""
    from imlib.study_a import records as study_a_records
    from imlib.study_a.config import make_config

    cfg = make_config("smoke", host="supervised", split="1/8", seed=0, results_dir=str(tmp_path / "results"),
                      work_dir=str(tmp_path / "work"), total_batch=4)  # 2 per rank (BatchNorm needs 2)
    report = slurm.submit([cfg], overrides={"tasks_per_node": 2, "cpus_per_task": 1, "mem_gb": 2, "timeout_min": 15},
                          say=lambda line: None, poll_s=1)
    assert report.done == [cfg.run_id], report.failed
    (rec,) = study_a_records.load_all(tmp_path / "results")
    assert rec.schedule.world_size == 2
