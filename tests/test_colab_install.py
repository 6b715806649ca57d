"""The notebooks' install cell, run as Colab runs it: in a fresh venv outside the project, against a local
clone of the repository. It must clone the release tag, install imlib editable with the runtime extra only,
find every project file from the package, and the train notebook must then run to the end on the CPU.

The fresh venv borrows the already installed third-party packages through a ``.pth`` line (torch & co. are
6 GB; this machine installs them in two minutes, the test need not): what is tested is the cell's own logic.
imlib itself is not borrowed (the project's editable install is invisible to the fresh venv), so the cell
has to install it."""
import json
import os
import site
import subprocess
import sys
from pathlib import Path

import pytest

import imlib
from imlib import colab

ROOT = Path(__file__).resolve().parent.parent
TINY = dict(image_size=32, n_train=40, n_val=6, n_test=6, epochs=2, steps_per_epoch=2, batch_size=4, alpha=0.25,
            n_models=2, n_students=2, generations=1)


def git(*args, cwd):
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


@pytest.mark.slow
@pytest.mark.skipif(not (ROOT / ".git").exists(), reason="needs the project as a git checkout")
def test_install_cell_in_a_fresh_venv_installs_the_release_and_the_train_notebook_runs(tmp_path):
    origin = tmp_path / "origin"  # stands in for GitHub: a clone of the committed project, tagged as released
    git("clone", "--quiet", str(ROOT), str(origin), cwd=tmp_path)
    git("tag", "-f", colab.RELEASE_TAG, cwd=origin)
    head = git("rev-parse", "HEAD", cwd=origin)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    purelib = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    Path(purelib, "borrowed.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    probe = subprocess.run([python, "-c", "import importlib.util; print(importlib.util.find_spec('imlib'))"],
                           cwd=tmp_path, capture_output=True, text=True, check=True)
    assert probe.stdout.strip() == "None", "the fresh venv must not see the project's imlib"

    clone = tmp_path / "content" / "inconsistency-masks"
    env = {"IMLIB_REPOSITORY": f"file://{origin}", "IMLIB_CLONE": str(clone), "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    done = colab.run_install_cell(env, python=python, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"imlib {imlib.__version__} (commit {head[:12]}) from {clone}" in done.stdout
    assert "WARNING" not in done.stdout
    assert git("describe", "--tags", "--exact-match", cwd=clone) == colab.RELEASE_TAG  # the pinned release
    where = subprocess.run([python, "-c", "import imlib.paths as p; print(p.PROJECT_ROOT, p.RESULTS_DIR.is_dir())"],
                           cwd=tmp_path, capture_output=True, text=True, check=True).stdout.split()
    assert where == [str(clone), "True"]  # editable: project files found from the package, from any folder
    shown = subprocess.run([python, "-m", "pip", "show", "imlib"], capture_output=True, text=True).stdout
    assert f"Editable project location: {clone}" in shown

    out, results = tmp_path / "train-out.ipynb", tmp_path / "results"
    params = {"overrides": TINY, "results_dir": str(results), "work_dir": str(tmp_path / "work")}
    run = subprocess.run([python, "-m", "papermill", str(clone / "notebooks" / "train.ipynb"), str(out),
                          "-y", json.dumps(params), "-k", "python3", "--no-progress-bar"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=900,
                         env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert run.returncode == 0, run.stderr[-3000:]
    executed = out.read_text()
    assert str(clone) in executed and "training on CPU (fp32" in executed
    assert len(list(results.glob("**/*.json"))) == 1  # the record, written where the parameters said
