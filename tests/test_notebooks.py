"""The notebooks: .py sources and their Colab .ipynb pairs in sync, a GPU notice and a working install cell at
the top of each, parameters cells papermill can inject, and thin code (no raw record lookups)."""
import os
import re
import subprocess
from pathlib import Path

import jupytext
import pytest
import yaml

import imlib
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
def test_gpu_notice_and_the_install_cell_of_this_release(py, tmp_path, monkeypatch, capsys):
    """Each notebook opens with its own GPU notice (a real admonition) and the release's install cell verbatim;
    run inside the project's venv the cell installs nothing, leaves the working directory alone (paths come
    from the package) and prints the release and the device."""
    nb = jupytext.read(py)
    notice = nb.cells[0]
    assert notice.cell_type == "markdown" and re.search(r"```\{(note|warning|important)\}\s*\n\*\*GPU", notice.source), \
        f"{py.name}: the first cell needs a GPU notice admonition"
    install = next(c for c in nb.cells if c.cell_type == "code")
    assert install.source == colab.INSTALL_CELL, f"{py.name}: the install cell differs from imlib.colab.INSTALL_CELL"
    monkeypatch.chdir(tmp_path)
    calls = []
    real_run = subprocess.run
    monkeypatch.setattr("subprocess.run", lambda args, **k: calls.append(args) or real_run(args, **k))
    exec(compile(install.source, f"{py.name}:install", "exec"), {})
    assert Path(os.getcwd()) == tmp_path
    assert not [c for c in calls if "pip" in c or "clone" in c], "nothing is installed inside the project"
    out = capsys.readouterr().out
    assert f"imlib {imlib.__version__}" in out and "device: CPU (fp32" in out and "WARNING" not in out


def test_release_pins_agree():
    """The install cell clones the tag of this release; the book's Colab buttons open the same tag; the
    repository is the one the book names."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert colab.REPOSITORY == config["repository"]["url"]
    assert config["repository"]["branch"] == colab.RELEASE_TAG == f"v{imlib.__version__}"
    assert f'IMLIB_REF = "{colab.RELEASE_TAG}"' in colab.INSTALL_CELL
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert f'version = "{imlib.__version__}"' in pyproject
    colab_extra = re.search(r"^colab = \[(.*)\]$", pyproject, re.M).group(1)
    assert not re.search(r"jupyter-book|sphinx|pytest", colab_extra), "the colab extra is runtime only"


def test_setup_warns_when_notebook_and_package_are_different_releases(capsys):
    colab.setup("v0.0.1")
    assert "WARNING: this notebook belongs to v0.0.1" in capsys.readouterr().out


def test_paper_on_a_cpu_is_warned_about():
    assert colab.paper_on_cpu_warning("paper", "cpu").startswith("WARNING")
    assert colab.paper_on_cpu_warning("smoke", "cpu") is None


def test_use_drive_moves_the_project_folders_to_drive_and_links_them(tmp_path):
    """Records, models and datasets outlive a Colab runtime: the folders become links into Drive, what the
    project held is copied there first, and a file Drive already has is kept."""
    root, drive = tmp_path / "project", tmp_path / "drive" / "imlib"
    (root / "data" / "results" / "b").mkdir(parents=True)
    (root / "data" / "results" / "b" / "r.json").write_text("committed")
    (drive / "data" / "results" / "b").mkdir(parents=True)
    (drive / "data" / "results" / "b" / "mine.json").write_text("on drive")
    colab.use_drive(drive, root=root, mount=False)
    for rel in colab.DRIVE_FOLDERS:
        assert (root / rel).is_symlink() and (root / rel).resolve() == (drive / rel).resolve()
    assert (root / "data/results/b/r.json").read_text() == "committed"
    assert (root / "data/results/b/mine.json").read_text() == "on drive"
    colab.use_drive(drive, root=root, mount=False)  # again: nothing changes
    assert sorted(p.name for p in (drive / "data/results/b").iterdir()) == ["mine.json", "r.json"]
    (root / "data" / "raw").unlink()
    (root / "data" / "raw").write_text("not a folder")
    with pytest.raises(ValueError, match="is a file, expected a folder"):
        colab.use_drive(drive, root=root, mount=False)


@pytest.mark.parametrize("py", NOTEBOOKS, ids=lambda p: p.stem)
def test_parameters_cell_and_no_raw_record_lookups(py):
    nb = jupytext.read(py)
    params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1, "exactly one papermill parameters cell"
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert not re.search(r"record\[\"|\[\"generations\"\]|\[\"config\"\]", code), "read records through imlib.records"
    assert not re.search(r"isin\(\[\"(im|ldt)", code), "method groups come from the registry"
