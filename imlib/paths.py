"""Where the project's files are, found once.

The library is installed in editable mode from the project checkout (``pip install -e .``), so the
checkout's root is the folder above the package. Everything that reads a committed file (the paper's
reported numbers, the train notebook, split lists) goes through ``PROJECT_ROOT``, so that it works
whatever the working directory is (notebooks run in ``notebooks/``, the CLI in the root).
"""
from __future__ import annotations

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PAPER_DIR = PROJECT_ROOT / "data" / "paper"  # the paper's reported numbers (committed CSVs)
TRAIN_NOTEBOOK = PROJECT_ROOT / "notebooks" / "train.py"  # what `imlib batch` executes per Study B run
TRAIN_NOTEBOOK_A = PROJECT_ROOT / "notebooks" / "train_study_a.py"  # ... per Study A run


def resolve(path: str | Path) -> Path:
    """``path`` as given when absolute or present from the working directory, else under the project root
    (a notebook in ``notebooks/`` names ``data/prepared`` as the CLI does)."""
    path = Path(path)
    if path.is_absolute() or path.exists():
        return path
    return PROJECT_ROOT / path
