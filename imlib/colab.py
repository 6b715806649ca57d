"""What the first code cell of every notebook does after the install, and how Colab keeps data on Drive.

Every notebook starts with the same install cell (``INSTALL_CELL``; a test checks that each notebook carries it
verbatim). Where the project is missing (Colab, or any Python without it) the cell clones the repository at
``IMLIB_REF`` — the release the book was built from, also the tag its Colab buttons open — and installs it in
editable mode with the ``colab`` extra only (no book or test tooling). Editable, so that every committed file
(the paper's numbers, the run records, the notebooks) is found from the package (``imlib.paths``), whatever the
working directory, also after a runtime restart. Then :func:`setup` says which release, commit and device the
notebook runs with.

The environment variables ``IMLIB_REPOSITORY`` and ``IMLIB_CLONE`` change where the cell clones from and to
(a test runs the cell against a local clone in a fresh venv).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from imlib import __version__
from imlib.paths import PROJECT_ROOT

REPOSITORY = "https://github.com/im-companion/inconsistency-masks"  # the same as _config.yml's repository.url
RELEASE_TAG = f"v{__version__}"  # the tag a release is published under; the install cell's IMLIB_REF

INSTALL_CELL = f'''\
# Colab, or any Python without imlib: install imlib at this notebook's release
# (elsewhere nothing is installed), then print the release, commit and device.
import importlib.util, os, subprocess, sys  # noqa: E401
IMLIB_REF = "{RELEASE_TAG}"
REPOSITORY = "{REPOSITORY}"
if importlib.util.find_spec("imlib") is None:
    home = "/content" if os.path.isdir("/content") else os.path.expanduser("~")
    clone = os.environ.get("IMLIB_CLONE", home + "/inconsistency-masks")
    if not os.path.isdir(clone):
        subprocess.run(["git", "clone", "-q", "--depth=1", "-b", IMLIB_REF,
                        os.environ.get("IMLIB_REPOSITORY", REPOSITORY), clone],
                       check=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-e",
                    clone + "[colab]"], check=True, env={{**os.environ,
                   "PYTHONWARNINGS": "ignore:Editable installation"}})
    sys.path.insert(0, clone)  # importable now; after a restart through pip
from imlib.colab import setup; setup(IMLIB_REF)  # noqa: E702'''

DRIVE = Path("/content/drive")
DRIVE_FOLDERS = ("data/results", "data/work", "data/prepared", "data/raw")  # what should outlive a Colab runtime


def device_line(device: str = "auto", amp: bool = True) -> str:
    """``GPU (Tesla T4), fp16 autocast with loss scaling`` or ``CPU (fp32, 2 threads)``: what a run on
    ``device`` trains on and in which precision (bf16 only where the GPU supports it)."""
    import torch

    from imlib.engine import pick_device, precision_name

    dev = pick_device(device)
    precision = precision_name(dev, amp)
    if dev.type == "cuda":
        scaling = " with loss scaling" if precision == "fp16" else ""
        mode = f"{precision} autocast{scaling}" if precision != "fp32" else "fp32"
        return f"GPU ({torch.cuda.get_device_name(dev)}), {mode}"
    return f"{dev.type.upper()} ({precision}, {torch.get_num_threads()} threads)"


def paper_on_cpu_warning(preset: str, device: str = "auto") -> str | None:
    """A warning when the paper's protocol is about to train on a CPU (days instead of hours), else None."""
    from imlib.engine import pick_device

    if preset == "paper" and pick_device(device).type != "cuda":
        return ("WARNING: preset 'paper' is the paper's protocol (thousands of U-Net epochs) and this runtime has no "
                "GPU: expect days. In Colab choose Runtime > Change runtime type > GPU; on a CPU use preset 'smoke' "
                "or 'mini'.")
    return None


def setup(ref: str | None = None) -> Path:
    """Print the release, commit and device the notebook runs with; warn when the notebook (``ref``, its
    install cell's ``IMLIB_REF``) and the installed imlib are different releases. Returns the project root."""
    from imlib.provenance import git_commit

    print(f"imlib {__version__} (commit {git_commit(PROJECT_ROOT)[:12]}) from {PROJECT_ROOT}; device: {device_line()}")
    if ref is not None and ref != RELEASE_TAG:
        print(f"WARNING: this notebook belongs to {ref}, the installed imlib is {RELEASE_TAG}: results and code may "
              f"differ (open the notebook of {RELEASE_TAG}, or install {ref})")
    return PROJECT_ROOT


def use_drive(drive_folder: str | Path = "/content/drive/MyDrive/imlib", root: Path = PROJECT_ROOT,
              mount: bool = True) -> Path:
    """Keep what should outlive a Colab runtime on Google Drive: ``data/results`` (run records), ``data/work``
    (trained models and checkpoints: runs resume from them), ``data/prepared`` and ``data/raw`` (datasets)
    become links into ``drive_folder``. What the project already holds there is moved to Drive first (a file
    Drive already has is kept as it is on Drive), so the committed records stay visible. Mounts Drive when
    ``drive_folder`` lies under /content/drive and ``mount``. Returns the Drive folder."""
    drive_folder = Path(drive_folder)
    if mount and drive_folder.is_relative_to(DRIVE) and not (DRIVE / "MyDrive").is_dir():
        from google.colab import drive  # only in Colab

        drive.mount(str(DRIVE))
    for rel in DRIVE_FOLDERS:
        local, remote = root / rel, drive_folder / rel
        remote.mkdir(parents=True, exist_ok=True)
        if local.is_symlink():
            if local.resolve() == remote.resolve():
                continue
            local.unlink()
        elif local.is_dir():
            for path in sorted(p for p in local.rglob("*") if p.is_file()):
                target = remote / path.relative_to(local)
                if not target.exists():
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(path, target)
            shutil.rmtree(local)
        elif local.exists():
            raise ValueError(f"{local} is a file, expected a folder (or nothing) to link to {remote}")
        local.parent.mkdir(parents=True, exist_ok=True)
        local.symlink_to(remote, target_is_directory=True)
    print(f"imlib: {', '.join(DRIVE_FOLDERS)} are kept in {drive_folder}")
    return drive_folder


def run_install_cell(env: dict[str, str] | None = None, python: str | None = None,
                     cwd: str | Path | None = None) -> subprocess.CompletedProcess:
    """Run ``INSTALL_CELL`` in a fresh interpreter (``python``, e.g. a clean venv's) in ``cwd`` with ``env``
    added: what the install test does, and a way to check a release's cell by hand."""
    return subprocess.run([python or sys.executable, "-c", INSTALL_CELL], env={**os.environ, **(env or {})},
                          cwd=cwd, capture_output=True, text=True, timeout=1800)
