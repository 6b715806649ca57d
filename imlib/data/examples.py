"""Small generated source folders for the "Your own data" tutorial, and a way to show what ``imlib prepare
folder`` prints for them.

Why this module exists: the tutorial (``notebooks/own_data.py``) walks a new user through the three kinds of
task people bring to ``imlib prepare folder`` — a binary task (dermoscopy-like lesions), a multi-class task
whose masks use a void id (street-scene-like, id 11 as in CamVid), and a cell-count task shipped with 16-bit
instance maps (phase-contrast-like cells) — and through the traps real datasets set on the way. The book is
built without downloads, so the examples are generated here: tiny (24 images of 64 x 64 px, cells 96 x 96 px),
deterministic for a seed, in the layouts real datasets ship (ISIC's ``_segmentation`` mask names, a
``position/`` folder beside ``instances/``), and made to look enough like the real thing for the figures. They
are not real data and nothing is trained on them here.

:func:`run` runs a command line in-process (``imlib.cli.main``) in a given folder and keeps exactly what a
user sees: the printed summary and ``note:`` lines, or the one ``imlib: error: ...`` line; its transcript wraps
long lines for the page. The fixes the tutorial applies (:func:`strip_mask_suffix`, :func:`binarize_masks`,
:func:`move`, :func:`write_classes`) are what a user would do by hand, each saying the shell command it stands
for where there is one.
"""
from __future__ import annotations

import contextlib
import io
import os
import shlex
import shutil
import textwrap
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

WIDTH = 76  # characters per line of a transcript (the page's code column holds about 80 at 1280 px)

#: The street scenes' classes, ``<id>: <name>``: a subset of CamVid's ids.
SCENE_CLASSES = {0: "sky", 1: "building", 2: "pole", 3: "road", 4: "pavement", 5: "tree", 8: "car"}
#: The street scenes' void id (CamVid's): pixels nobody labeled.
VOID = 11
ISIC_SUFFIX = "_segmentation"  # ISIC names its masks <image>_segmentation.png


# --- running the command line as a user does -------------------------------------------------------------

@dataclass
class CliRun:
    """One command line as typed (``imlib prepare folder ...``), its exit code and what it printed."""
    command: str
    code: int
    out: str
    err: str

    @property
    def ok(self) -> bool:
        return self.code == 0

    def transcript(self, width: int = WIDTH) -> str:
        """The command (``$ ...``, continued with ``\\``) and its output as a terminal shows it, every line
        wrapped to ``width`` characters (continuations indented)."""
        cmd = textwrap.wrap(self.command, width - 4, break_long_words=False, break_on_hyphens=False)
        lines = [("$ " if i == 0 else "    ") + part + (" \\" if i < len(cmd) - 1 else "") for i, part in enumerate(cmd)]
        for line in (self.out + self.err).splitlines():
            lines += textwrap.wrap(line, width, subsequent_indent="    ", break_on_hyphens=False) or [""]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.transcript()

    def _repr_pretty_(self, p, cycle) -> None:  # IPython shows the transcript as a cell's output
        p.text(self.transcript())


@contextlib.contextmanager
def working_directory(path: str | Path):
    """Run the body in ``path`` (relative paths of a command line mean what they mean in a shell there)."""
    old = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


def run(workdir: str | Path, command: str) -> CliRun:
    """Run ``command`` (``"imlib prepare folder --src lesions --name lesions"``) as the ``imlib`` command line
    does, in ``workdir``: relative paths and the default ``data/prepared/`` are under ``workdir``. Returns
    what it printed on stdout and stderr (``imlib: error: ...`` for a problem) and its exit code."""
    from imlib.cli import main

    argv = shlex.split(command)
    if not argv or argv[0] != "imlib":
        raise ValueError(f"expected a command line starting with 'imlib', got {command!r}")
    out, err = io.StringIO(), io.StringIO()
    with working_directory(workdir), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv[1:])
        except SystemExit as e:  # argparse: a wrong option (its usage and message are on stderr)
            code = e.code if isinstance(e.code, int) else 2
    return CliRun(command, code, out.getvalue(), err.getvalue())


# --- what a folder holds -----------------------------------------------------------------------------------

_MODES = {"1": "1-bit", "L": "8-bit grey", "RGB": "RGB", "RGBA": "RGBA", "P": "palette", "I;16": "16-bit grey",
          "I": "32-bit grey", "F": "float"}


def _describe_files(files: list[Path]) -> tuple[str, str]:
    """('24 files, 64x64 RGB', 'a.png ... z.png') of a folder's files: the size and bit depth of the first."""
    what = f"{len(files)} file{'s' if len(files) > 1 else ''}"
    with contextlib.suppress(OSError):  # not an image: its count and names only
        with Image.open(files[0]) as im:
            what += f", {im.width}x{im.height} {_MODES.get(im.mode, im.mode)}"
    return what, files[0].name + (f" ... {files[-1].name}" if len(files) > 1 else "")


def tree(root: str | Path) -> str:
    """A short listing of a source folder: its files, and per subfolder the number of files, the size and
    bit depth of the first one, and (on the next line) the first and last name; hidden files left out."""
    root = Path(root)
    lines = [f"{root.name}/"]

    def walk(folder: Path, indent: str) -> None:
        entries = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
        files = [p for p in entries if p.is_file()]
        if files and folder != root:
            what, names = _describe_files(files)
            lines[-1] += f"  {what}"
            lines.append(f"{indent}{names}")
        else:
            lines.extend(f"{indent}{p.name}" for p in files)
        for d in (p for p in entries if p.is_dir()):
            lines.append(f"{indent}{d.name}/")
            walk(d, indent + "  ")

    walk(root, "  ")
    return "\n".join(lines)


# --- shared drawing pieces ---------------------------------------------------------------------------------

def _save(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def _smooth_field(rng: np.random.Generator, size: int, cells: int = 4) -> np.ndarray:
    """A smooth random field in [-1, 1] (uneven lighting): a few random values upsampled bilinearly."""
    coarse = rng.uniform(-1, 1, (cells, cells)).astype(np.float32)
    return np.asarray(Image.fromarray(coarse).resize((size, size), Image.BILINEAR))


def _to_uint8(a: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(a), 0, 255).astype(np.uint8)


# --- 1. binary: dermoscopy-like lesions --------------------------------------------------------------------

def _lesion(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    """An RGB skin-like image with one irregular brown lesion (fuzzy border) and its 0/255 mask."""
    yy, xx = np.mgrid[:size, :size] / size
    cy, cx = rng.uniform(0.38, 0.62, 2)
    aspect, r0 = rng.uniform(0.75, 1.3), rng.uniform(0.14, 0.26)
    theta = np.arctan2(yy - cy, (xx - cx) * aspect)
    edge = r0 * (1 + sum(rng.uniform(0.03, 0.09) * np.sin(f * theta + rng.uniform(0, 2 * np.pi)) for f in (2, 3, 5)))
    r = np.hypot(yy - cy, (xx - cx) * aspect)
    mask = r < edge
    alpha = np.clip((edge - r) / 0.05 + 0.5, 0, 1)[..., None]  # the fuzzy border of the image (not of the mask)
    skin = np.array([222, 176, 150]) + rng.normal(0, 10, 3)
    skin = skin + 18 * _smooth_field(rng, size)[..., None] - 30 * np.hypot(yy - 0.5, xx - 0.5)[..., None]
    lesion = np.array([120, 72, 52]) + rng.normal(0, 12, 3)
    lesion = lesion - 35 * np.clip(1 - r / np.maximum(edge, 1e-6), 0, 1)[..., None]  # darker towards the centre
    img = skin * (1 - alpha) + lesion * alpha + rng.normal(0, 5, (size, size, 3))
    return _to_uint8(img), (mask * 255).astype(np.uint8)


def lesions(root: str | Path, n: int = 24, size: int = 64, unlabeled: int = 4, seed: int = 0,
            mask_suffix: str = "", grey_masks: int = 0) -> Path:
    """A binary folder like ISIC's: ``images/ISIC_<i>.jpg``, 0/255 ``masks/ISIC_<i><mask_suffix>.png`` and
    ``unlabeled/`` images without masks. ``mask_suffix=ISIC_SUFFIX`` names the masks as ISIC ships them (they
    then do not pair with their images); ``grey_masks`` of the masks are saved after a bilinear resize, with
    grey levels along the border, as an export with the wrong interpolation leaves them."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    for i in range(n + unlabeled):
        img, mask = _lesion(rng, size)
        stem = f"ISIC_{i:07d}"
        if i >= n:
            _save(root / "unlabeled" / f"{stem}.jpg", img)
            continue
        if i < grey_masks:
            small = Image.fromarray(mask).resize((size // 2, size // 2), Image.BILINEAR)
            mask = np.asarray(small.resize((size, size), Image.BILINEAR))
        _save(root / "images" / f"{stem}.jpg", img)
        _save(root / "masks" / f"{stem}{mask_suffix}.png", mask)
    return root


def strip_mask_suffix(folder: str | Path, suffix: str = ISIC_SUFFIX) -> int:
    """Rename ``<stem><suffix>.png`` to ``<stem>.png`` in ``folder`` (the shell loop
    ``for f in masks/*_segmentation.png; do mv "$f" "${f%_segmentation.png}.png"; done``); the number renamed."""
    renamed = 0
    for p in sorted(Path(folder).iterdir()):
        if p.stem.endswith(suffix):
            p.rename(p.with_name(p.stem[: -len(suffix)] + p.suffix))
            renamed += 1
    return renamed


def binarize_masks(folder: str | Path, threshold: int = 128) -> list[str]:
    """Re-save every mask of ``folder`` that holds values other than 0 and 255 as 0/255 (value >= threshold:
    foreground); the names of the masks rewritten."""
    fixed = []
    for p in sorted(Path(folder).glob("*.png")):
        m = np.asarray(Image.open(p))
        if not set(np.unique(m).tolist()) <= {0, 255}:
            Image.fromarray(((m >= threshold) * 255).astype(np.uint8)).save(p)
            fixed.append(p.name)
    return fixed


# --- 2. multi-class with a void id: street scenes ------------------------------------------------------------

_SCENE_COLOURS = {0: (150, 190, 232), 2: (45, 45, 50), 3: (78, 78, 84), 4: (158, 150, 140), 5: (52, 112, 48),
                  VOID: (22, 22, 26)}
_BUILDING_COLOURS = [(150, 120, 100), (180, 170, 150), (120, 110, 105), (170, 110, 80)]
_CAR_COLOURS = [(200, 30, 30), (30, 60, 170), (220, 220, 220), (30, 30, 30), (200, 170, 20)]


def _scene(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    """An RGB street-scene-like image and its class ids (:data:`SCENE_CLASSES`; :data:`VOID` where nobody
    labeled: a ring around each car and an unlabeled object on the pavement)."""
    ids = np.zeros((size, size), np.uint8)  # sky
    img = np.zeros((size, size, 3))
    yy, xx = np.mgrid[:size, :size]
    horizon = int(size * rng.uniform(0.42, 0.52))
    x = 0
    while x < size:  # buildings along the horizon
        w, h = int(rng.integers(8, 20)), int(rng.integers(size // 6, horizon - 2))
        ids[horizon - h:horizon, x:x + w] = 1
        img[horizon - h:horizon, x:x + w] = _BUILDING_COLOURS[int(rng.integers(len(_BUILDING_COLOURS)))]
        win = (yy[horizon - h:horizon, x:x + w] % 4 == 1) & (xx[horizon - h:horizon, x:x + w] % 4 == 1)
        img[horizon - h:horizon, x:x + w][win] *= 0.55  # windows
        x += w
    ground = yy >= horizon
    centre = size / 2 + rng.uniform(-0.1, 0.1) * size
    half = size * (0.06 + 0.55 * (yy - horizon) / (size - horizon))
    road = ground & (np.abs(xx - centre) < half)
    ids[ground] = 4
    ids[road] = 3
    for _ in range(int(rng.integers(1, 4))):  # trees on the pavement line
        cx = int(rng.choice([rng.integers(0, size // 4), rng.integers(3 * size // 4, size)]))
        cy, r = horizon - int(rng.integers(2, 8)), int(rng.integers(5, 9))
        ids[(yy - cy) ** 2 + (xx - cx) ** 2 <= r * r] = 5
    for _ in range(int(rng.integers(1, 3))):  # poles
        px = int(rng.choice([rng.integers(2, size // 5), rng.integers(4 * size // 5, size - 2)]))
        ids[horizon - int(rng.integers(10, horizon - 2)):horizon + 3, px] = 2
    for v in (0, 2, 3, 4, 5):
        img[ids == v] = _SCENE_COLOURS[v]
    img[ids == 0] += (yy[ids == 0, None] / size) * np.array([40, 30, 10])  # the sky lighter towards the horizon
    for _ in range(int(rng.integers(1, 4))):  # cars on the road, each with an unlabeled (void) ring
        cy = int(rng.integers(horizon + (size - horizon) // 3, size - 6))
        w, h = int(rng.integers(9, 15)), int(rng.integers(5, 8))
        cx = int(np.clip(centre + rng.uniform(-0.5, 0.5) * half[cy, 0] - w / 2, 1, size - w - 1))
        car = (yy >= cy - h) & (yy < cy) & (xx >= cx) & (xx < cx + w)
        ring = (yy >= cy - h - 1) & (yy <= cy) & (xx >= cx - 1) & (xx <= cx + w) & ~car
        ids[ring], ids[car] = VOID, 8
        img[ring] = _SCENE_COLOURS[VOID]
        img[car] = _CAR_COLOURS[int(rng.integers(len(_CAR_COLOURS)))]
    oy, ox = int(rng.integers(horizon + 2, size - 4)), int(rng.choice([2, size - 7]))
    blob = (np.abs(yy - oy) <= 2) & (np.abs(xx - ox - 2) <= 2) & (ids == 4)  # an object nobody labeled
    ids[blob] = VOID
    img[blob] = (200, 60, 160)
    img = img * (1 + 0.08 * _smooth_field(rng, size)[..., None]) + rng.normal(0, 5, (size, size, 3))
    return _to_uint8(img), ids


def street_scenes(root: str | Path, n: int = 24, size: int = 64, seed: int = 0) -> Path:
    """A multi-class folder like CamVid's: ``images/scene_<i>.png`` and ``masks/scene_<i>.png`` holding the ids
    of :data:`SCENE_CLASSES` and :data:`VOID` (11) where nothing was labeled; no classes.txt
    (:func:`write_classes` writes one)."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    for i in range(n):
        img, ids = _scene(rng, size)
        _save(root / "images" / f"scene_{i:03d}.png", img)
        _save(root / "masks" / f"scene_{i:03d}.png", ids)
    return root


def write_classes(root: str | Path, void: bool = True) -> str:
    """``root/classes.txt``: one ``<id> <name>`` per class of :data:`SCENE_CLASSES`, and (``void``) the line
    ``ignore 11`` that declares the void id; returns the text written."""
    text = "".join(f"{i} {name}\n" for i, name in SCENE_CLASSES.items())
    if void:
        text += f"ignore {VOID}    # void: unlabeled pixels, neither trained on nor scored\n"
    (Path(root) / "classes.txt").write_text(text)
    return text


# --- 3. cells with 16-bit instance maps ----------------------------------------------------------------------

def _cells(rng: np.random.Generator, size: int, count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A grey phase-contrast-like image (dark cells with a bright halo on an unevenly lit background), its
    16-bit instance map (ids from 1000 up, one per cell) and the cell centres (row, col)."""
    yy, xx = np.mgrid[:size, :size].astype(float)
    centres, axes = [], []
    for _ in range(count * 50):  # rejection sampling: cells never touch
        if len(centres) == count:
            break
        c, ab = rng.uniform(9, size - 9, 2), rng.uniform(4.5, 7.5, 2)
        if all(np.hypot(*(c - o)) > ab.max() + oab.max() + 3 for o, oab in zip(centres, axes)):
            centres.append(c)
            axes.append(ab)
    ids = np.zeros((size, size), np.uint16)
    img = 118 + 10 * _smooth_field(rng, size)
    labels = rng.choice(np.arange(1000, 65000), len(centres), replace=False)
    for (cy, cx), (a, b), label in zip(centres, axes, labels):
        t = rng.uniform(0, np.pi)
        u = ((yy - cy) * np.cos(t) + (xx - cx) * np.sin(t)) / a
        v = (-(yy - cy) * np.sin(t) + (xx - cx) * np.cos(t)) / b
        rho = np.hypot(u, v)
        ids[rho < 1] = label
        img[rho < 1] -= 28 + 10 * rng.random()
        img[(rho >= 1) & (rho < 1 + 1.6 / min(a, b))] += 70  # the phase-contrast halo
    img += rng.normal(0, 5, (size, size))
    return _to_uint8(img), ids, np.array(centres).reshape(-1, 2)


def cells(root: str | Path, n: int = 24, size: int = 96, seed: int = 0, shipped: bool = True) -> Path:
    """A cell-count folder with 16-bit instance maps (``instances/cell_<i>.png``, 0 = background, one id >= 1000
    per cell). ``shipped``: as such datasets come, ``masks/<stem>.png`` (every cell, 0/255) beside a
    ``position/`` folder (small discs at the cell centres) and ``instances/``, which ``imlib prepare folder``
    refuses until arranged; else arranged already: ``masks/alive/`` and ``instances/``."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    for i in range(n):
        img, ids, centres = _cells(rng, size, int(rng.integers(7, 13)))
        stem = f"cell_{i:03d}.png"
        _save(root / "images" / stem, img)
        _save(root / "instances" / stem, ids)
        cells_mask = ((ids > 0) * 255).astype(np.uint8)
        _save(root / "masks" / (stem if shipped else f"alive/{stem}"), cells_mask)
        if shipped:
            discs = np.zeros((size, size), bool)
            for cy, cx in centres:
                discs |= (yy - cy) ** 2 + (xx - cx) ** 2 <= 4
            _save(root / "position" / stem, (discs * 255).astype(np.uint8))
    return root


def move(workdir: str | Path, source: str, dest: str) -> str:
    """``mv source dest`` in ``workdir``: a folder or file moved or renamed; ``source`` may be a glob
    (``cells/masks/*.png``), whose files go into the folder ``dest`` (made if needed). Returns the shell
    command it stands for."""
    workdir = Path(workdir)
    if any(ch in source for ch in "*?["):
        (workdir / dest).mkdir(parents=True, exist_ok=True)
        matches = sorted(workdir.glob(source))
        if not matches:
            raise FileNotFoundError(f"{workdir / source}: nothing matches")
        for p in matches:
            shutil.move(str(p), str(workdir / dest / p.name))
        return f"mkdir -p {dest} && mv {source} {dest}/"
    shutil.move(str(workdir / source), str(workdir / dest))
    return f"mv {source} {dest}"


# --- a split the dataset ships -------------------------------------------------------------------------------

def write_split_file(root: str | Path, val: int = 4, test: int = 6, seed: int = 0, name: str = "splits.tsv") -> Path:
    """``root/<name>``: the split a dataset ships, one ``images/<file>\\t<part>`` a line under a header, every
    image of ``root/images`` in train, val (``val`` images) or test (``test`` images), drawn with ``seed``."""
    root = Path(root)
    files = sorted(p.name for p in (root / "images").iterdir() if not p.name.startswith("."))
    order = list(np.random.default_rng(seed).permutation(len(files)))
    part = {files[k]: "test" if j < test else "val" if j < test + val else "train" for j, k in enumerate(order)}
    path = root / name
    path.write_text("image\tsplit\n" + "".join(f"images/{f}\t{part[f]}\n" for f in files))
    return path


# --- the figure of a prepared example --------------------------------------------------------------------------

def sample_figure(prepared_dir: str | Path, name: str, n: int = 4):
    """The first ``n`` images with labels of a prepared dataset (labeled, then val and test) above their
    labels as prepared, with the colour key (:func:`imlib.plots.samples_figure`: it names the ignored colour,
    void ids and 255, when the labels hold any)."""
    import torch

    from imlib import plots
    from imlib.config import make_config
    from imlib.data.registry import load_dataset

    ds = load_dataset(make_config("smoke", dataset=name, prepared_dir=str(prepared_dir)))
    parts = (ds.labeled, ds.val, ds.test)
    images = torch.cat([p.images for p in parts])[:n].numpy()
    labels = torch.cat([p.labels for p in parts])[:n].numpy()
    return plots.samples_figure(images, labels, ds.task)
