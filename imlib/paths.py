"""Where the project's files are, found from the package, never from the working directory.

The library is installed in editable mode from the project checkout (``pip install -e .``; in Colab the
install cell clones the repository and does the same), so the checkout's root is the folder above the
package. Everything that reads or writes a project file (the paper's reported numbers, run records, trained
models, prepared datasets, benchmark results) goes through this module, so a notebook finds the same files
whatever its working directory is, also after a Colab runtime restart.
"""
from __future__ import annotations

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PAPER_DIR = PROJECT_ROOT / "data" / "paper"  # the paper's reported numbers (committed CSVs)
RESULTS_DIR = PROJECT_ROOT / "data" / "results"  # run records (committed)
WORK_DIR = PROJECT_ROOT / "data" / "work"  # trained models and checkpoints (ignored by git)
PREPARED_DIR = PROJECT_ROOT / "data" / "prepared"  # prepared datasets (ignored by git)
BENCHMARK_DIR = PROJECT_ROOT / "benchmarks" / "results"  # committed benchmark measurements
TRAIN_NOTEBOOK = PROJECT_ROOT / "notebooks" / "train.py"  # what `imlib batch` executes per Study B run
TRAIN_NOTEBOOK_A = PROJECT_ROOT / "notebooks" / "train_study_a.py"  # ... per Study A run


def project_path(path: str | Path) -> Path:
    """``path`` when absolute, else the same path under the project root (``"data/results"`` means the
    project's results folder from any working directory). Notebook parameters use this form."""
    path = Path(path).expanduser()
    return path if path.is_absolute() else PROJECT_ROOT / path


def resolve(path: str | Path) -> Path:
    """``path`` as given when absolute or present from the working directory, else under the project root
    (what a user types on the command line in any folder)."""
    path = Path(path)
    if path.is_absolute() or path.exists():
        return path
    return PROJECT_ROOT / path
