"""The notebooks: .py sources and their Colab .ipynb pairs in sync, a GPU notice and a working install cell at
the top of each, parameters cells papermill can inject, and thin code (no raw record lookups)."""
import os
import re
from pathlib import Path

import jupytext
import pytest
import yaml

from imlib import colab

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.py"))


def cells(nb):
    return [(c.cell_type, c.source.strip()) for c in nb.cells]


def test_there_are_notebooks():
    assert {p.stem for p in NOTEBOOKS} >= {"train", "im_creation", "generations", "study_b", "study_a"}


@pytest.mark.parametrize("py", NOTEBOOKS, ids=lambda p: p.stem)
def test_ipynb_pair_in_sync_and_stripped(py):
    ipynb = py.with_suffix(".ipynb")
    assert ipynb.exists(), f"{ipynb.name} missing: run `jupytext --sync {py.relative_to(ROOT)}`"
    a, b = jupytext.read(py), jupytext.read(ipynb)
    assert cells(a) == cells(b), f"{py.name} and {ipynb.name} differ: run `jupytext --sync`"
    assert all(not c.get("outputs") for c in b.cells if c.cell_type == "code"), f"{ipynb.name} has outputs"


@pytest.mark.parametrize("py", NOTEBOOKS, ids=lambda p: p.stem)
def test_install_cell_runs_and_enters_the_project(py, tmp_path, monkeypatch, capsys):
    """The first code cell, run as Colab would run it but inside the project's venv: it installs nothing
    (imlib is there), moves into notebooks/ from wherever it started, and says which device it trains on."""
    nb = jupytext.read(py)
    assert nb.cells[0].cell_type == "markdown" and "GPU and Colab" in nb.cells[0].source
    install = nb.cells[1]
    assert install.cell_type == "code" and len(install.source.splitlines()) <= 4  # the logic lives in imlib.colab
    url = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]
    assert colab.REPOSITORY == url and f"git+{url}" in install.source
    monkeypatch.chdir(tmp_path)
    calls = []
    monkeypatch.setattr("subprocess.run", lambda *a, **k: calls.append(a))
    exec(compile(install.source, f"{py.name}:install", "exec"), {})
    assert Path(os.getcwd()) == ROOT / "notebooks" and not calls
    assert "training on the" in capsys.readouterr().out


@pytest.mark.parametrize("py", NOTEBOOKS, ids=lambda p: p.stem)
def test_parameters_cell_and_no_raw_record_lookups(py):
    nb = jupytext.read(py)
    params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1, "exactly one papermill parameters cell"
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert not re.search(r"record\[\"|\[\"generations\"\]|\[\"config\"\]", code), "read records through imlib.records"
    assert not re.search(r"isin\(\[\"(im|ldt)", code), "method groups come from the registry"


def test_colab_setup_clones_only_outside_a_checkout(tmp_path, monkeypatch):
    """A package installed without its checkout (Colab) gets a shallow clone of the repository; inside the
    checkout nothing is fetched."""
    calls = []
    monkeypatch.setattr("subprocess.run", lambda args, **k: calls.append(args))
    assert colab.project_root(tmp_path / "clone") == ROOT and not calls
    monkeypatch.setattr(colab, "PROJECT_ROOT", tmp_path / "site-packages")
    assert colab.project_root(tmp_path / "clone") == tmp_path / "clone"
    assert calls and calls[0][:2] == ["git", "clone"] and colab.REPOSITORY in calls[0]
