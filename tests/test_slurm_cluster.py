"""The one-node Slurm cluster of scripts/slurm-dev-cluster runs, finishes and cancels real jobs."""

import subprocess
import time

import pytest
from slurm_cluster import slurm_cluster  # noqa: F401

pytestmark = pytest.mark.slurm


def _run(*args: str, cwd) -> str:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, check=True, timeout=120).stdout


def test_sbatch_wait_runs_a_job(slurm_cluster, tmp_path):  # noqa: F811
    out = tmp_path / "hello.out"
    _run("sbatch", "--wait", "--output", str(out), "--wrap", "echo hello", cwd=tmp_path)
    assert out.read_text().strip() == "hello"


def test_scancel_removes_a_running_job(slurm_cluster, tmp_path):  # noqa: F811
    job = _run("sbatch", "--parsable", "--output", str(tmp_path / "sleep.out"), "--wrap", "sleep 60", cwd=tmp_path)
    job = job.strip().split(";")[0]

    def queued() -> str:
        # squeue errors out ("Invalid job id") once the job has left the controller's memory
        shown = subprocess.run(["squeue", "-h", "-j", job, "-o", "%T"], capture_output=True, text=True, timeout=30)
        return shown.stdout.strip()

    deadline = time.monotonic() + 30
    while queued() != "RUNNING":
        assert time.monotonic() < deadline, f"job {job} never ran: {queued()!r}"
        time.sleep(0.2)
    _run("scancel", job, cwd=tmp_path)
    deadline = time.monotonic() + 30
    while queued():
        assert time.monotonic() < deadline, f"job {job} still in squeue after scancel: {queued()!r}"
        time.sleep(0.2)
    state = _run("scontrol", "show", "job", job, cwd=tmp_path)
    assert "JobState=CANCELLED" in state
