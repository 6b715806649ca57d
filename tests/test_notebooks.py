"""The notebooks: .py sources and their Colab .ipynb pairs in sync, a GPU notice and the same install
cell at the top of each, the repository URL set in one place, parameters cells papermill can inject."""
from pathlib import Path

import jupytext
import pytest
import yaml

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
def test_gpu_notice_install_cell_and_parameters(py):
    nb = jupytext.read(py)
    assert nb.cells[0].cell_type == "markdown" and "GPU and Colab" in nb.cells[0].source
    install = nb.cells[1]
    assert install.cell_type == "code" and "find_spec(\"imlib\") is None" in install.source
    assert install.source == jupytext.read(ROOT / "notebooks" / "train.py").cells[1].source  # one install cell
    url = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]
    assert f'REPOSITORY = "{url}"' in install.source
    params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1, "exactly one papermill parameters cell"
