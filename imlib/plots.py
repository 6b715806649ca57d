"""The companion's figures, in one visual style. Every function returns a matplotlib Figure.

Style: :func:`use_book_style` (call it once per notebook) sets a seaborn theme with the colour-blind-safe
palette and font sizes chosen for the book's content column (about 660 px): figures are at most
:data:`BOOK_WIDTH_IN` inches wide at 100 dpi, so they are shown unscaled and no text is smaller than
:data:`MIN_FONT_PT`. :func:`legibility_problems` checks a figure against both.

Colours of the image figures, each shown in a colour key below the figure: binary foreground white on
black; the inconsistency mask in orange; multi-class labels in the SUIM palette of the paper (class 0, the
IM class, light grey); multi-label cells as RGB (alive red, dead green, position blue; overlapping channels
add up, e.g. alive + position = magenta).
"""
from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib import ticker
from matplotlib.colors import ListedColormap
from matplotlib.font_manager import FontProperties
from matplotlib.legend import Legend
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.text import Text

from imlib.data.task import Task
from imlib.methods import registry
from imlib.records import RunRecord

# the content column is about 660 px wide at a 1280 px window (sphinx-book-theme with the page's contents on the
# right): a figure of at most 6.5 in at 100 dpi is shown unscaled, its 9.5-10 pt text at 13-14 px
BOOK_WIDTH_IN = 6.5
MIN_FONT_PT = 9.0  # the smallest text a figure may carry at that width
PALETTE = "colorblind"  # seaborn's colour-blind-safe palette (Okabe-Ito-like)
MASK_COLOUR = (1.0, 0.55, 0.0)
MASK_NAME = "inconsistency mask"
# the paper's SUIM colours, class 0 = IM in grey (211, 211, 211)
SUIM_PALETTE = np.array([(211, 211, 211), (0, 0, 0), (0, 0, 255), (0, 255, 0), (0, 255, 255), (255, 0, 0),
                         (255, 0, 255), (255, 255, 0), (255, 255, 255)]) / 255.0
IGNORE_COLOUR = (0.5, 0.5, 0.5)
IGNORE_NAME = "ignored (void)"  # the key's name for ignored pixels (255, declared void ids)
_TEXT = "#323232"  # sphinx-book-theme's body text
_RULE = "#d0d0d0"


def use_book_style() -> None:
    """The book's look for every figure: seaborn's white grid, the colour-blind-safe palette, sans-serif
    text of 9.5-11 pt for figures up to :data:`BOOK_WIDTH_IN` inches at 100 dpi. (Not "retina" PNGs: their
    fixed width and height would distort a figure the page scales down.)"""
    sns.set_theme(context="notebook", style="whitegrid", palette=PALETTE)
    plt.rcParams.update({
        "figure.dpi": 100, "savefig.dpi": 200, "figure.figsize": (BOOK_WIDTH_IN, 3.6), "figure.facecolor": "white",
        "font.size": 10, "axes.titlesize": 10, "axes.labelsize": 10, "xtick.labelsize": 9.5,
        "ytick.labelsize": 9.5, "legend.fontsize": 9.5, "legend.title_fontsize": 9.5, "figure.titlesize": 11,
        "text.color": _TEXT, "axes.labelcolor": _TEXT, "xtick.color": _TEXT, "ytick.color": _TEXT,
        "axes.edgecolor": _RULE, "grid.color": "#ebebeb", "legend.frameon": False, "image.interpolation": "nearest",
    })


style = use_book_style  # the former name, while notebooks switch over


def legibility_problems(fig: plt.Figure, width_in: float = BOOK_WIDTH_IN, min_pt: float = MIN_FONT_PT) -> list[str]:
    """What would make ``fig`` hard to read in the book: wider than the column (it would be scaled down),
    or visible text smaller than ``min_pt``. Empty when it is fine."""
    problems = []
    width = fig.get_size_inches()[0]
    if width > width_in + 1e-6:
        problems.append(f"figure {width:.2f} in wide > {width_in} in: scaled down on the page")
    fig.draw_without_rendering()  # runs the layout engine, as saving the figure for the page does
    drawn = fig.get_tightbbox(fig.canvas.get_renderer()).width  # what the page gets (bbox_inches="tight")
    if drawn > width_in + 0.2:
        problems.append(f"figure drawn {drawn:.2f} in wide (a legend or label sticks out) > {width_in} in")
    for t in fig.findobj(Text):
        if t.get_visible() and t.get_text().strip() and t.get_fontsize() < min_pt - 1e-6:
            problems.append(f"text {t.get_text()!r} at {t.get_fontsize():.1f} pt < {min_pt} pt")
    return problems


def legend_labels(fig: plt.Figure) -> list[str]:
    """The texts of every legend (colour key) of ``fig``, figure-level and per axes."""
    legends = [*fig.legends, *(ax.get_legend() for ax in fig.axes)]
    return [t.get_text() for leg in legends if leg is not None for t in leg.get_texts()]


# --- colours of images and labels ----------------------------------------------------------------

def image_rgb(image: np.ndarray) -> np.ndarray:
    """(C, H, W) uint8 -> (H, W, 3) floats for imshow (grey images repeated)."""
    a = np.asarray(image, dtype=np.float32) / 255.0
    return np.repeat(a, 3, 0).transpose(1, 2, 0) if a.shape[0] == 1 else a.transpose(1, 2, 0)


def class_palette(task: Task) -> np.ndarray:
    """(num_outputs, 3) colours of a multi-class task's classes: the paper's SUIM palette, else tab20."""
    if task.num_outputs <= len(SUIM_PALETTE):
        return SUIM_PALETTE[: task.num_outputs]
    return plt.cm.tab20(np.arange(task.num_outputs) % 20)[:, :3]


def label_rgb(label: np.ndarray, task: Task) -> np.ndarray:
    """A label in the stored layout (L, H, W) -> (H, W, 3) colours."""
    label = np.asarray(label)
    if task.kind == "multiclass":
        pal = class_palette(task)
        out = pal[np.clip(label[0], 0, len(pal) - 1)]
        out[label[0] == task.ignore_index] = IGNORE_COLOUR
        return out
    if task.kind == "binary":
        return np.repeat((label[0] == 1)[..., None], 3, -1).astype(float)
    rgb = np.zeros(label.shape[1:] + (3,))
    for ch in range(min(3, label.shape[0])):
        rgb[..., ch] = label[ch] == 1
    return rgb


def label_key(task: Task) -> list[tuple[str, tuple[float, float, float]]]:
    """(name, colour) of everything :func:`label_rgb` paints for ``task``: the classes (multi-class, with
    their ids), background and foreground (binary), the channels and their usual overlaps (multi-label)."""
    if task.kind == "multiclass":
        def name_of(i: int, name: str) -> str:
            if i != task.im_class:
                return f"{i} {name}"
            return f"{i} {name} (masked)" if name.upper() == "IM" else f"{i} {name} (IM class)"

        return [(name_of(i, name), tuple(c)) for i, (name, c) in enumerate(zip(task.class_names, class_palette(task)))]
    if task.kind == "binary":
        return [("background", (0.0, 0.0, 0.0)), (task.class_names[0], (1.0, 1.0, 1.0))]
    names = task.class_names[:3]
    unit = [tuple(float(i == ch) for i in range(3)) for ch in range(len(names))]
    key = [(name, c) for name, c in zip(names, unit)]
    pos = task.position_channel
    if pos is not None and pos < 3:  # position discs sit inside cells: their colours add up
        key += [(f"{names[ch]} + {names[pos]}", tuple(min(1.0, a + b) for a, b in zip(unit[ch], unit[pos])))
                for ch in range(len(names)) if ch != pos]
    if len(task.class_names) > 3:
        key.append((f"(channels {', '.join(task.class_names[3:])} not shown)", (1.0, 1.0, 1.0)))
    return key


def legend_below(fig: plt.Figure, handles: Sequence, ncol: int | None = None, title: str | None = None,
                 labels: Sequence[str] | None = None) -> Legend:
    """A figure legend below every panel (so it never covers data), in as many columns as fit the figure's
    width. ``labels``: the entries' names when the handles carry none. ``fig`` must use the constrained layout."""
    labels = list(labels) if labels is not None else [h.get_label() for h in handles]
    size = FontProperties(size=plt.rcParams["legend.fontsize"]).get_size_in_points()
    width_chars = fig.get_size_inches()[0] * 72 / (0.6 * size)  # characters per line
    longest = max(len(label) for label in labels) + 5  # the handle and the spacing
    ncol = ncol or max(1, min(len(handles), int(width_chars // longest)))
    return fig.legend(handles, labels, loc="outside lower center", ncol=ncol, title=title, frameon=False,
                      handlelength=1.4, handleheight=1.1, columnspacing=1.2)


def colour_key(fig: plt.Figure, entries: Sequence[tuple[str, tuple[float, ...] | str]], ncol: int | None = None,
               title: str | None = None) -> Legend:
    """A key of colour patches (name, colour) below the figure (:func:`legend_below`)."""
    handles = [Patch(facecolor=c, edgecolor="#777777", linewidth=0.6, label=name) for name, c in entries]
    return legend_below(fig, handles, ncol, title)


def overlay_mask(rgb: np.ndarray, mask: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    out = rgb.copy()
    out[mask.astype(bool)] = (1 - alpha) * out[mask.astype(bool)] + alpha * np.array(MASK_COLOUR)
    return out


def _panel(ax, img, title: str = "", **kw) -> None:
    ax.imshow(img, interpolation="nearest", **kw)
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)


def _blank(ax) -> None:
    """A grid cell with nothing in it (its y label, a row name, stays visible)."""
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)
    for spine in ax.spines.values():
        spine.set_visible(False)


def _image_grid(rows: int, cols: int, panel_in: float = 1.75, extra_h: float = 0.8,
                title_h: float = 0.3) -> tuple[plt.Figure, np.ndarray]:
    """A constrained-layout grid of square image panels (``title_h`` inches above each for its title), no
    wider than the book's column; ``extra_h`` inches for the colour key below."""
    width = min(BOOK_WIDTH_IN, panel_in * cols + 0.4)
    panel = (width - 0.4) / cols
    fig, axes = plt.subplots(rows, cols, figsize=(width, rows * (panel + title_h) + extra_h), squeeze=False,
                             layout="constrained")
    return fig, axes


# --- the method's figures ------------------------------------------------------------------------

def im_creation_figure(pred_a: np.ndarray, pred_b: np.ndarray, image: np.ndarray | None = None,
                       foreground: str = "lesion") -> plt.Figure:
    """The paper's "creation of an Inconsistency Mask" (binary, two teachers): (a), (b) thresholded
    predictions, (c) their sum, (d) the mask = {sum = 1}, (e) the final pseudo-label = {sum = 2}."""
    a, b = np.asarray(pred_a, bool), np.asarray(pred_b, bool)
    s = a.astype(int) + b
    panels = [(image_rgb(image), "input", {})] if image is not None else []
    grey = dict(cmap="gray", vmin=0, vmax=1)
    panels += [(a, "(a) teacher 1 > 0.5", grey), (b, "(b) teacher 2 > 0.5", grey),
               (s, "(c) sum (a) + (b)", dict(cmap=ListedColormap(["black", MASK_COLOUR, "white"]), vmin=0, vmax=2)),
               (s == 1, "(d) mask: sum = 1", dict(cmap=ListedColormap(["black", MASK_COLOUR]), vmin=0, vmax=1)),
               (s == 2, "(e) pseudo-label: sum = 2", grey)]
    cols = 3
    fig, axes = _image_grid((len(panels) + cols - 1) // cols, cols, panel_in=2.3)
    for ax, (img, title, kw) in zip(axes.flat, panels):
        _panel(ax, img, title, **kw)
    for ax in axes.flat[len(panels):]:
        ax.remove()
    colour_key(fig, [("background (sum 0)", (0, 0, 0)), (f"{MASK_NAME} (sum 1)", MASK_COLOUR),
                     (f"{foreground} (sum 2)", (1, 1, 1))], ncol=3)
    return fig


def im_pair_figure(image: np.ndarray, teacher_labels: Sequence[np.ndarray], label: np.ndarray, mask: np.ndarray,
                   blacked: np.ndarray, task: Task, truth: np.ndarray | None = None) -> plt.Figure:
    """Any task kind, in two rows: what the teachers see and predict (the input, each teacher's
    discretised prediction), then what the student gets (the mask, the pseudo-label, the input with the
    mask blacked out) beside the hidden ground truth; a colour key for the classes or channels and the mask."""
    top = [(image_rgb(image), "input")]
    top += [(label_rgb(t, task), f"teacher {i + 1}") for i, t in enumerate(teacher_labels)]
    bottom = [(overlay_mask(np.zeros(mask.shape + (3,)), mask), MASK_NAME), (label_rgb(label, task), "pseudo-label"),
              (image_rgb(blacked), "student input")]
    if truth is not None:
        bottom.append((label_rgb(truth, task), "ground truth"))
    cols = max(len(top), len(bottom))
    fig, axes = _image_grid(2, cols, panel_in=1.8, extra_h=1.0 if task.kind == "multiclass" else 0.7)
    for row, panels in zip(axes, (top, bottom)):
        for ax, (img, title) in zip(row, panels):
            _panel(ax, img, title)
        for ax in row[len(panels):]:
            ax.remove()
    axes[0, 0].set_ylabel("teachers")
    axes[1, 0].set_ylabel("student")
    colour_key(fig, label_key(task) + [(MASK_NAME, MASK_COLOUR)])
    return fig


def generations_figure(image: np.ndarray, truth: np.ndarray, masks: Sequence[np.ndarray],
                       labels: Sequence[np.ndarray], task: Task) -> plt.Figure:
    """IM over generations for one image: rows = the input with the mask blacked out, the mask (its share
    of the image in the title), the pseudo-label; first column the input and the ground truth, then one
    column per generation; a colour key for the classes or channels and the mask."""
    g = len(masks)
    fig, axes = _image_grid(3, g + 1, panel_in=1.6, extra_h=1.0 if task.kind == "multiclass" else 0.7)
    rgb = image_rgb(image)
    _panel(axes[0, 0], rgb, "input")
    _blank(axes[1, 0])
    _panel(axes[2, 0], label_rgb(truth, task), "ground truth")
    for i, (m, lab) in enumerate(zip(masks, labels), start=1):
        blacked = rgb.copy()
        blacked[m.astype(bool)] = 0
        _panel(axes[0, i], blacked, f"generation {i}")
        _panel(axes[1, i], overlay_mask(np.zeros(rgb.shape), m), f"mask: {100 * m.mean():.1f} %")
        _panel(axes[2, i], label_rgb(lab, task), "")
    for r, name in enumerate(("input − mask", MASK_NAME, "pseudo-label")):
        axes[r, 0].set_ylabel(name)
    colour_key(fig, label_key(task) + [(MASK_NAME, MASK_COLOUR)])
    return fig


def _rows_of_images(rows: Sequence[tuple[str, Sequence[np.ndarray]]], task: Task, title: str = "",
                    ignored: bool = False) -> plt.Figure:
    """One row per kind of picture (images, labels, predictions), one column per example, a colour key (with
    the ignored colour when ``ignored``: labels that hold ignored pixels)."""
    n = len(rows[0][1])
    fig, axes = _image_grid(len(rows), n, panel_in=1.5, extra_h=(1.0 if task.kind == "multiclass" else 0.6)
                            + (0.3 if title else 0), title_h=0.05)
    for r, (name, pictures) in enumerate(rows):
        for ax, pic in zip(axes[r], pictures):
            _panel(ax, pic)
        axes[r, 0].set_ylabel(name)
    if title:
        fig.suptitle(title)
    colour_key(fig, label_key(task) + ([(IGNORE_NAME, IGNORE_COLOUR)] if ignored else []))
    return fig


def predictions_figure(images: np.ndarray, truths: np.ndarray, preds: np.ndarray, task: Task) -> plt.Figure:
    """Test images (top row), their ground truth and a model's prediction below, with a colour key."""
    return _rows_of_images([("image", [image_rgb(i) for i in images]),
                            ("ground truth", [label_rgb(t, task) for t in truths]),
                            ("prediction", [label_rgb(p, task) for p in preds])], task)


def samples_figure(images: np.ndarray, labels: np.ndarray, task: Task, title: str = "") -> plt.Figure:
    """Images (top row) above their labels (bottom row), with a colour key that names the ignored colour
    (void ids, 255) where a label holds ignored pixels."""
    return _rows_of_images([("image", [image_rgb(i) for i in images]),
                            ("label", [label_rgb(lab, task) for lab in labels])], task, title,
                           ignored=bool((np.asarray(labels) == task.ignore_index).any()))


# --- training curves -----------------------------------------------------------------------------

BEST_LABEL = "best on validation"
REPORTED_LABEL = "reported model"
_BEST_MARKER = dict(marker="o", s=42, facecolors="white", linewidths=1.6, zorder=4)


class _PlainLog(ticker.LogFormatter):
    """Log-axis labels as plain numbers (0.3, 2), with matplotlib's choice of which minor ticks to label."""

    def _num_to_string(self, x, vmin, vmax):
        return f"{x:g}"


def _metric_label(metric: str) -> str:
    return {"iou": "IoU", "miou": "mIoU", "mcce": "mean cell-count error"}.get(metric, metric)


def training_curves(record: RunRecord) -> plt.Figure:
    """Training loss and validation score per epoch for every model of a run; each model's checkpoint
    chosen on validation (its best epoch) marked. Models share a colour per generation when the run has
    several generations."""
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(BOOK_WIDTH_IN, 3.5), layout="constrained")
    gens = [g for g in record.generations if any(m.history for m in g.models)]
    by_generation = len(gens) > 1
    colours = sns.color_palette(PALETTE, max(len(gens), max((len(g.models) for g in gens), default=1)))
    multilabel = record.task.kind == "multilabel"  # validated on the loss (no per-epoch cell count)
    scale = 1 if multilabel else 100
    handles = []
    for gi, g in enumerate(gens):
        for mi, m in enumerate(g.models):
            h = pd.DataFrame(m.history)
            if h.empty:
                continue
            colour = colours[gi if by_generation else mi]
            epochs = h.epoch + 1
            a1.plot(epochs, h.loss, color=colour, alpha=0.8, lw=1.3)
            line, = a2.plot(epochs, scale * h.val_score, color=colour, alpha=0.8, lw=1.3)
            best = h[h.epoch == m.best_epoch]
            if not best.empty:
                a2.scatter(best.epoch + 1, scale * best.val_score, edgecolors=colour, **_BEST_MARKER)
            if g.generation == record.result.generation and m.name == record.result.model and not best.empty:
                a2.scatter(best.epoch + 1, scale * best.val_score, marker="*", s=150, color=colour, edgecolors=_TEXT,
                           linewidths=0.8, zorder=5)
            name = (f"generation {g.generation}" + (f": {g.role}" if g.role else "")) if by_generation else m.name
            if name not in [hd.get_label() for hd in handles]:
                handles.append(Line2D([], [], color=colour, lw=1.6, label=name))
    handles.append(Line2D([], [], ls="", marker="o", mfc="white", mec=_TEXT, mew=1.6, ms=7, label=BEST_LABEL))
    handles.append(Line2D([], [], ls="", marker="*", mfc="white", mec=_TEXT, mew=0.8, ms=12, label=REPORTED_LABEL))
    a1.set(xlabel="epoch", ylabel="training loss (log scale)", yscale="log")
    a1.yaxis.set_major_formatter(_PlainLog())  # 0.3, not 3 x 10^-1
    a1.yaxis.set_minor_formatter(_PlainLog(labelOnlyBase=False))
    crit = "validation loss (lower is better)" if multilabel else f"validation {_metric_label(record.task.metric)} (%)"
    a2.set(xlabel="epoch", ylabel=crit)
    for ax in (a1, a2):
        ax.xaxis.get_major_locator().set_params(integer=True)
    legend_below(fig, handles)
    return fig


def study_a_curves(record) -> plt.Figure:
    """A Study A run's validation mIoU per evaluated epoch, one line per network (student, EMA teacher), the
    best evaluation marked."""
    fig, ax = plt.subplots(figsize=(BOOK_WIDTH_IN, 3.6), layout="constrained")
    points = [(h["epoch"] + 1, h["miou"]) for h in record.history if "miou" in h]
    for network in dict.fromkeys(n for _, scores in points for n in scores):
        xs = [e for e, scores in points if network in scores]
        ax.plot(xs, [scores[network] for _, scores in points if network in scores], marker="o", ms=4, lw=1.4,
                label=network)
    ax.scatter([record.result.best_epoch + 1], [record.result.best_miou], s=110, facecolors="none",
               edgecolors=_TEXT, linewidths=1.6, label=f"{BEST_LABEL} ({record.result.best_network})", zorder=4)
    ax.set(xlabel="epoch", ylabel="validation mIoU (%)")
    ax.set_title(f"{record.config.method_name}, split {record.config.split}\n"
                 f"{record.config.preset} preset, {record.data.description}", fontsize=plt.rcParams["font.size"])
    ax.xaxis.get_major_locator().set_params(integer=True)
    legend_below(fig, ax.get_legend_handles_labels()[0])
    return fig
