"""The first code cell of every notebook, written once.

Each notebook starts with the same three lines: install the project when it is missing (Colab), then
:func:`setup`. Everything else the cell needs lives here, where a test runs it::

    import importlib.util, subprocess, sys
    if importlib.util.find_spec("imlib") is None:  # Colab: install the project (in its own venv it is there)
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "git+<REPOSITORY>"], check=True)
    from imlib.colab import setup; setup()
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

from imlib.paths import PROJECT_ROOT

REPOSITORY = "https://github.com/im-companion/inconsistency-masks"  # the same as _config.yml's repository.url


def project_root(clone_into: str | Path = "im-companion") -> Path:
    """The project checkout the notebooks' relative paths (``../data/...``) refer to: the one this package
    was installed from, or, for a package installed without its checkout (Colab), a shallow clone."""
    if (PROJECT_ROOT / "data" / "paper").is_dir():
        return PROJECT_ROOT
    clone = Path(clone_into).resolve()
    if not (clone / "data" / "paper").is_dir():
        subprocess.run(["git", "clone", "--quiet", "--depth", "1", REPOSITORY, str(clone)], check=True)
    return clone


def setup(clone_into: str | Path = "im-companion") -> Path:
    """Work inside the project's ``notebooks/`` folder (so relative paths resolve, also after a Colab
    runtime restart) and say which device the notebook will train on. Returns the project root."""
    import torch

    root = project_root(clone_into)
    os.chdir(root / "notebooks")
    device = f"GPU ({torch.cuda.get_device_name()})" if torch.cuda.is_available() else "CPU"
    print(f"imlib: project {root}, training on the {device}")
    return root
