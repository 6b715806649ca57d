"""A real one-node Slurm cluster for tests (scripts/slurm-dev-cluster), as a pytest fixture.

Use it in a test module with

    from slurm_cluster import slurm_cluster  # noqa: F401

and mark the tests that need it ``@pytest.mark.slurm``. The fixture skips when slurm-wlm/munge are
not installed or the tests do not run as root; otherwise it starts the cluster once per session in a
fresh folder on free ports, sets ``SLURM_CONF`` for the session, yields the path of its slurm.conf
and stops the daemons at the end (the folder with its logs stays for inspection).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "slurm-dev-cluster"
BINARIES = ("slurmctld", "slurmd", "munged", "sinfo", "sbatch", "scancel", "squeue", "scontrol")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory) -> Iterator[Path]:
    missing = [b for b in BINARIES if shutil.which(b) is None]
    if missing:
        pytest.skip(f"Slurm cluster tests need slurm-wlm and munge ({', '.join(missing)} not found)")
    if os.geteuid() != 0:
        pytest.skip("Slurm cluster tests need root (scripts/slurm-dev-cluster runs the daemons as root)")
    folder = tmp_path_factory.mktemp("slurm")
    if len(str(folder)) > 70:  # the munge socket path under it must fit a unix socket name (108 bytes)
        folder = Path(tempfile.mkdtemp(prefix="imlib-slurm-"))
    env = dict(os.environ)
    ctld_port = _free_port()
    slurmd_port = _free_port()
    while slurmd_port == ctld_port:
        slurmd_port = _free_port()
    env.update(SLURM_DEV_CTLD_PORT=str(ctld_port), SLURM_DEV_SLURMD_PORT=str(slurmd_port))
    env.pop("SLURM_CONF", None)
    started = subprocess.run(
        [str(SCRIPT), "start", str(folder)], env=env, capture_output=True, text=True, timeout=180
    )
    conf = folder / "slurm.conf"
    try:
        if started.returncode != 0:
            pytest.fail(
                f"scripts/slurm-dev-cluster start {folder} failed ({started.returncode}):\n"
                f"{started.stdout}\n{started.stderr}",
                pytrace=False,
            )
        assert started.stdout.strip().splitlines()[-1] == f"export SLURM_CONF={conf}"
        before = os.environ.get("SLURM_CONF")
        os.environ["SLURM_CONF"] = str(conf)
        try:
            yield conf
        finally:
            if before is None:
                os.environ.pop("SLURM_CONF", None)
            else:
                os.environ["SLURM_CONF"] = before
    finally:
        subprocess.run([str(SCRIPT), "stop", str(folder)], capture_output=True, text=True, timeout=120)
