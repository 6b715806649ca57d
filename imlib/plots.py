"""The companion's figures, in one visual style. Every function returns a matplotlib Figure.

Colours: binary foreground white on black; the inconsistency mask in orange; multi-class labels in the
SUIM palette of the paper (class 0, the IM class, grey); multi-label cells as RGB (alive red, dead
green, position blue).
"""
from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.colors import ListedColormap

from imlib.data.task import Task
from imlib.methods import registry
from imlib.records import RunRecord

MASK_COLOUR = (1.0, 0.55, 0.0)
# the paper's SUIM colours, class 0 = IM in grey (211, 211, 211)
SUIM_PALETTE = np.array([(211, 211, 211), (0, 0, 0), (0, 0, 255), (0, 255, 0), (0, 255, 255), (255, 0, 0),
                         (255, 0, 255), (255, 255, 0), (255, 255, 255)]) / 255.0


def style() -> None:
    sns.set_theme(context="notebook", style="whitegrid", font_scale=0.9)
    plt.rcParams.update({"figure.dpi": 100, "savefig.dpi": 150, "axes.titlesize": 10})


def image_rgb(image: np.ndarray) -> np.ndarray:
    """(C, H, W) uint8 -> (H, W, 3) floats for imshow (grey images repeated)."""
    a = np.asarray(image, dtype=np.float32) / 255.0
    return np.repeat(a, 3, 0).transpose(1, 2, 0) if a.shape[0] == 1 else a.transpose(1, 2, 0)


def label_rgb(label: np.ndarray, task: Task) -> np.ndarray:
    """A label in the stored layout (L, H, W) -> (H, W, 3) colours."""
    label = np.asarray(label)
    if task.kind == "multiclass":
        pal = SUIM_PALETTE if task.num_outputs <= len(SUIM_PALETTE) else plt.cm.tab20(np.arange(task.num_outputs))[:, :3]
        out = pal[np.clip(label[0], 0, len(pal) - 1)]
        out[label[0] == task.ignore_index] = (0.5, 0.5, 0.5)
        return out
    if task.kind == "binary":
        return np.repeat((label[0] == 1)[..., None], 3, -1).astype(float)
    rgb = np.zeros(label.shape[1:] + (3,))
    for ch in range(min(3, label.shape[0])):
        rgb[..., ch] = label[ch] == 1
    return rgb


def overlay_mask(rgb: np.ndarray, mask: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    out = rgb.copy()
    out[mask.astype(bool)] = (1 - alpha) * out[mask.astype(bool)] + alpha * np.array(MASK_COLOUR)
    return out


def _panel(ax, img, title: str, **kw) -> None:
    ax.imshow(img, interpolation="nearest", **kw)
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)


def im_creation_figure(pred_a: np.ndarray, pred_b: np.ndarray, image: np.ndarray | None = None) -> plt.Figure:
    """The paper's "creation of an Inconsistency Mask" (binary, two teachers): (a), (b) thresholded
    predictions, (c) their sum, (d) the mask = {sum = 1}, (e) the final pseudo-label = {sum = 2}."""
    a, b = np.asarray(pred_a, bool), np.asarray(pred_b, bool)
    s = a.astype(int) + b
    panels = [(a, "(a) teacher 1 > 0.5"), (b, "(b) teacher 2 > 0.5")]
    n = 5 + (image is not None)
    fig, axes = plt.subplots(1, n, figsize=(2.3 * n, 2.6))
    axes = list(axes)
    if image is not None:
        _panel(axes.pop(0), image_rgb(image), "input")
    for ax, (m, t) in zip(axes[:2], panels):
        _panel(ax, m, t, cmap="gray", vmin=0, vmax=1)
    _panel(axes[2], s, "(c) sum", cmap=ListedColormap(["black", MASK_COLOUR, "white"]), vmin=0, vmax=2)
    _panel(axes[3], s == 1, "(d) IM: sum = 1", cmap=ListedColormap(["black", MASK_COLOUR]), vmin=0, vmax=1)
    _panel(axes[4], s == 2, "(e) pseudo-label: sum = 2", cmap="gray", vmin=0, vmax=1)
    fig.tight_layout()
    return fig


def im_pair_figure(image: np.ndarray, teacher_labels: Sequence[np.ndarray], label: np.ndarray, mask: np.ndarray,
                   blacked: np.ndarray, task: Task, truth: np.ndarray | None = None) -> plt.Figure:
    """Any task kind: each teacher's discretised prediction, the mask, the pseudo-label and the
    blacked-out input the student trains on."""
    cols = [(image_rgb(image), "input")]
    cols += [(label_rgb(t, task), f"teacher {i + 1}") for i, t in enumerate(teacher_labels)]
    cols += [(overlay_mask(np.zeros(mask.shape + (3,)), mask), "inconsistency mask"),
             (label_rgb(label, task), "pseudo-label"), (image_rgb(blacked), "student input")]
    if truth is not None:
        cols.append((label_rgb(truth, task), "ground truth"))
    fig, axes = plt.subplots(1, len(cols), figsize=(2.2 * len(cols), 2.5))
    for ax, (img, title) in zip(axes, cols):
        _panel(ax, img, title)
    fig.tight_layout()
    return fig


def generations_figure(image: np.ndarray, truth: np.ndarray, masks: Sequence[np.ndarray],
                       labels: Sequence[np.ndarray], task: Task) -> plt.Figure:
    """IM over generations for one image: rows = input with the mask blacked out, the mask, the
    pseudo-label; first column the ground truth, then one column per generation."""
    g = len(masks)
    fig, axes = plt.subplots(3, g + 1, figsize=(2.0 * (g + 1), 6.2), squeeze=False)
    rgb = image_rgb(image)
    _panel(axes[0, 0], rgb, "input")
    _panel(axes[1, 0], np.zeros(rgb.shape), "—")
    _panel(axes[2, 0], label_rgb(truth, task), "ground truth")
    for i, (m, lab) in enumerate(zip(masks, labels), start=1):
        blacked = rgb.copy()
        blacked[m.astype(bool)] = 0
        _panel(axes[0, i], blacked, f"generation {i}")
        _panel(axes[1, i], overlay_mask(np.zeros(rgb.shape), m), f"IM {100 * m.mean():.1f} %")
        _panel(axes[2, i], label_rgb(lab, task), "pseudo-label")
    for r, name in enumerate(("input − IM", "IM", "label")):
        axes[r, 0].set_ylabel(name)
    fig.tight_layout()
    return fig


def predictions_figure(images: np.ndarray, truths: np.ndarray, preds: np.ndarray, task: Task) -> plt.Figure:
    """Rows of (image, ground truth, prediction)."""
    n = len(images)
    fig, axes = plt.subplots(n, 3, figsize=(6.3, 2.1 * n), squeeze=False)
    for i in range(n):
        _panel(axes[i, 0], image_rgb(images[i]), "image" if i == 0 else "")
        _panel(axes[i, 1], label_rgb(truths[i], task), "ground truth" if i == 0 else "")
        _panel(axes[i, 2], label_rgb(preds[i], task), "prediction" if i == 0 else "")
    fig.tight_layout()
    return fig


def training_curves(record: RunRecord) -> plt.Figure:
    """Loss and validation score per epoch for every model of a run."""
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.2))
    for g in record.generations:
        for m in g.models:
            h = pd.DataFrame(m.history)
            if h.empty:
                continue
            a1.plot(h.epoch, h.loss, alpha=0.7, label=m.name)
            a2.plot(h.epoch, h.val_score, alpha=0.7, label=m.name)
    a1.set(xlabel="epoch", ylabel="training loss", yscale="log")
    crit = "val loss" if record.task.kind == "multilabel" else f"val {record.task.metric}"
    a2.set(xlabel="epoch", ylabel=crit)
    a2.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig


def generation_curves(comp_runs: pd.DataFrame, references: pd.DataFrame, metric_label: str,
                      lower_is_better: bool = False) -> plt.Figure:
    """Test score per generation of the generational methods (lines with markers) against the supervised
    references (horizontal lines), in each method's registry colour. ``comp_runs``: columns method,
    generation, value; ``references``: columns method, value."""
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for method, grp in comp_runs.groupby("method"):
        agg = grp.groupby("generation").value.agg(["mean", "std"]).reset_index()
        ax.errorbar(agg.generation, agg["mean"], yerr=agg["std"].fillna(0), marker="o", capsize=3,
                    color=registry.colour(method), label=registry.display_name(method))
    for _, r in references.iterrows():
        ax.axhline(r.value, ls="--", lw=1, color=registry.colour(r.method))
        ax.annotate(registry.display_name(r.method), (1.0, r.value), xycoords=("axes fraction", "data"), fontsize=7,
                    va="center", ha="left", color=registry.colour(r.method))
    ax.set(xlabel="generation (0 = the LDT teachers)", ylabel=metric_label + (" (lower is better)" if lower_is_better else ""))
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    return fig


def comparison_bars(df: pd.DataFrame, value_cols: tuple[str, str], row: str, facet: str, title: str) -> plt.Figure:
    """Paired bars per method (e.g. reported vs reproduced, or without vs with IM), one panel per facet."""
    facets = list(dict.fromkeys(df[facet]))
    fig, axes = plt.subplots(1, len(facets), figsize=(4.2 * len(facets), 0.32 * df[row].nunique() + 1.4),
                             squeeze=False, sharey=True)
    for ax, f in zip(axes[0], facets):
        part = df[df[facet] == f].melt(id_vars=[row], value_vars=list(value_cols), var_name="", value_name="value")
        sns.barplot(part, y=row, x="value", hue="", ax=ax, orient="h", palette=["#9e9e9e", "#d95f02"])
        ax.set(title=str(f), xlabel="", ylabel="")
        if ax is not axes[0, -1]:
            ax.get_legend().remove()
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def samples_figure(images: np.ndarray, labels: np.ndarray, task: Task, title: str = "") -> plt.Figure:
    """Images (top row) above their labels (bottom row)."""
    n = len(images)
    fig, axes = plt.subplots(2, n, figsize=(1.9 * n, 4.0), squeeze=False)
    for i in range(n):
        _panel(axes[0, i], image_rgb(images[i]), "")
        _panel(axes[1, i], label_rgb(labels[i], task), "")
    axes[0, 0].set_ylabel("image")
    axes[1, 0].set_ylabel("label")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def study_a_curves(record) -> plt.Figure:
    """A Study A run's validation mIoU per evaluated epoch, one line per network (student, EMA teacher), the
    best evaluation marked."""
    fig, ax = plt.subplots(figsize=(5.5, 3.2))
    points = [(h["epoch"] + 1, h["miou"]) for h in record.history if "miou" in h]
    for network in dict.fromkeys(n for _, scores in points for n in scores):
        xs = [e for e, scores in points if network in scores]
        ax.plot(xs, [scores[network] for _, scores in points if network in scores], marker="o", ms=3, label=network)
    ax.scatter([record.result.best_epoch + 1], [record.result.best_miou], s=80, facecolors="none",
               edgecolors="black", label=f"best ({record.result.best_network})", zorder=3)
    ax.set(xlabel="epoch", ylabel="val mIoU %", title=f"{record.config.method_name}, split {record.config.split} "
           f"({record.config.preset}, {record.data.description})")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def im_gain_figure(table: pd.DataFrame) -> plt.Figure:
    """The reported IM gain (mIoU points) per method and split: a dot per split on a zero line, so gains of a
    few tenths stay visible beside gains of several points."""
    fig, ax = plt.subplots(figsize=(6.5, 0.45 * table["method (backbone)"].nunique() + 1.2))
    splits = list(dict.fromkeys(table.split))
    palette = dict(zip(splits, sns.color_palette("viridis", len(splits))))
    sns.stripplot(table, y="method (backbone)", x="IM gain", hue="split", palette=palette, size=8, jitter=False,
                  dodge=True, ax=ax)
    ax.axvline(0, color="black", lw=0.8)
    ax.set(xlabel="IM gain (mIoU points, reported)", ylabel="")
    ax.legend(title="split", fontsize=8, title_fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig
