"""The result charts of the Study A and Study B pages. Every function returns a matplotlib Figure.

Sized for the book's content column (6.8 in, shown about 690 px wide at a 1280 px window, so a
9-point font stays 9 points), with units on every value axis and every colour key outside the data.
"""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from imlib.methods import registry
from imlib.plots import BOOK_WIDTH_IN, MIN_FONT_PT, legend_below
from imlib.stats import mean_interval

WIDTH = BOOK_WIDTH_IN  # inches: the content column at 100 px per inch (shown unscaled)
SMALL = MIN_FONT_PT  # points: the smallest font a chart uses
KIND_COLOURS = {"reference": "#9e9e9e", "semi-supervised": "#4c72b0", "generational": "#d95f02"}
METRIC_AXIS = {"iou": "test IoU (%) ↑", "miou": "test mIoU (%) ↑",
               "mcce": "test MCCE ↓\n(miscounted cells per image)"}
PAPER_ORDER = ("isic2018", "hela", "suim", "cityscapes")


def _paper_order(key) -> int:
    return PAPER_ORDER.index(key) if key in PAPER_ORDER else len(PAPER_ORDER)


def gain_axis_scale(gains) -> str:
    """``log`` when every gain is positive (gains of 0.2 and of 7.6 points both stay readable), else
    ``linear`` (a loss cannot sit on a log axis)."""
    gains = np.asarray(gains, dtype=float)
    return "log" if len(gains) and (gains > 0).all() else "linear"


def im_gain_figure(comp: pd.DataFrame, splits: tuple[str, ...] = ("1/16", "1/8", "1/4", "1/2")) -> plt.Figure:
    """The IM gain in mIoU points per host and split (``comp``: columns method, backbone, split, ``IM
    gain``; e.g. :func:`imlib.study_a.tables.comparison`): a dot per split, its value written beside it, on
    a log axis when every gain is positive, so that gains of a few tenths are as visible as gains of
    several points (the axis never starts at 0)."""
    comp = comp.assign(host=[f"{m} · {b}" for m, b in zip(comp.method, comp.backbone)])
    hosts = list(dict.fromkeys(comp.host))
    splits = [s for s in splits if s in set(comp.split)]
    colours = dict(zip(splits, sns.color_palette("viridis", len(splits))))
    step = 0.8 / max(len(splits), 1)
    fig, ax = plt.subplots(figsize=(WIDTH, 0.75 * len(hosts) + 1.3), layout="constrained")
    scale = gain_axis_scale(comp["IM gain"])
    gains = comp["IM gain"].to_numpy(dtype=float)
    if scale == "log":
        lo, hi = gains.min() / 1.6, gains.max() * 2.2  # room for the value beside the largest
        ax.set_xscale("log")
        ax.set_xlim(lo, hi)
        ticks = [t for t in (0.1, 0.2, 0.5, 1, 2, 5, 10, 20) if lo <= t <= hi]
        ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
        ax.xaxis.set_minor_formatter(plt.NullFormatter())
    else:
        pad = 0.1 * (gains.max() - gains.min() or 1.0)
        lo, hi = gains.min() - pad, gains.max() + 4 * pad  # room for the value beside the largest
        ax.set_xlim(lo, hi)
        ax.axvline(0, color="black", lw=0.8)
    for i, host in enumerate(hosts):
        for j, split in enumerate(splits):
            row = comp[(comp.host == host) & (comp.split == split)]
            if row.empty:
                continue
            g = float(row["IM gain"].iloc[0])
            y = i + (j - (len(splits) - 1) / 2) * step
            ax.plot([lo if scale == "log" else 0, g], [y, y], color=colours[split], lw=1.2, alpha=0.6)
            ax.plot(g, y, "o", color=colours[split], ms=6)
            ax.annotate(f"{g:+.2f}", (g, y), xytext=(5, 0), textcoords="offset points", va="center",
                        fontsize=SMALL)
    ax.set_yticks(range(len(hosts)), hosts)
    ax.set_ylim(len(hosts) - 0.5, -0.5)
    ax.grid(axis="y", visible=False)
    for i in range(1, len(hosts)):
        ax.axhline(i - 0.5, color="#dddddd", lw=0.8)
    ax.set_xlabel("IM gain as reported (mIoU points" + (", log scale)" if scale == "log" else ")"))
    handles = [Line2D([], [], marker="o", ls="", color=colours[s]) for s in splits]
    legend_below(fig, handles, ncol=len(splits), title="labeled split", labels=splits)
    return fig


def _interval(values: pd.Series) -> tuple[float, float]:
    """(mean, half-width of the 95 % t interval; 0 for one seed)."""
    iv = mean_interval(values.tolist())
    return iv.mean, (0.0 if iv.n < 2 else iv.half_width)


def _panel_title(dataset: str, synthetic: bool, stands_for: str | None, variant: str | None) -> str:
    from imlib.tables import PAPER_NAMES

    title = dataset + (" †" if synthetic else "")
    if synthetic and stands_for:
        title += f"\n(for {PAPER_NAMES.get(stands_for, stands_for)})"
    return title + (f"\n{variant}" if variant else "")


def generation_curves(frame: pd.DataFrame, ncols: int = 3) -> plt.Figure:
    """Test score per generation of the generational methods (ME, IM; mean over seeds with the 95 % t
    interval) against the supervised references (dashed: their mean over seeds), one panel per dataset
    (and variant, never pooled), in each method's registry colour. ``frame``: one preset's rows of
    :func:`imlib.tables.generation_frame`."""
    groups = list(frame.groupby(["dataset", "variant"], sort=True, dropna=False))
    groups = sorted([(k, g) for k, g in groups if (g.kind == "generational").any()],
                    key=lambda kg: _paper_order(kg[1].paper_dataset.iloc[0]))
    ncols = max(1, min(ncols, len(groups)))
    nrows = max(1, math.ceil(len(groups) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(WIDTH, 2.9 * nrows + 0.9), layout="constrained", squeeze=False)
    legend: dict[str, object] = {}
    for ax, ((dataset, variant), part) in zip(axes.flat, groups):
        gen = part[part.kind == "generational"]
        for method, grp in gen.groupby("method", sort=False):
            stats = grp.groupby("generation").value.apply(_interval)
            xs = list(stats.index)
            means, halves = [m for m, _ in stats], [h for _, h in stats]
            line = ax.errorbar(xs, means, yerr=halves, marker="o", ms=4, capsize=3, lw=1.5,
                               color=registry.colour(method), label=registry.display_name(method))
            legend.setdefault(registry.display_name(method), line)
        for method, grp in part[part.kind == "reference"].groupby("method", sort=False):
            ref = ax.axhline(grp.value.mean(), ls="--", lw=1, color=registry.colour(method))
            legend.setdefault(f"{registry.display_name(method)} (reference)", ref)
        metric = part.metric.iloc[0]
        target = part.paper_dataset.iloc[0]
        ax.set_title(_panel_title(dataset, target != dataset, target, variant if isinstance(variant, str) else None),
                     fontsize=10)
        ax.set_xlabel("generation")
        ax.set_ylabel(METRIC_AXIS.get(metric, metric))
        ax.xaxis.get_major_locator().set_params(integer=True)
    for ax in axes.flat[len(groups):]:
        ax.set_visible(False)
    names = [registry.display_name(k) for k in reversed(registry.method_keys(study="b"))]
    keys = sorted(legend, key=lambda n: next((i for i, m in enumerate(names) if n.split(" (")[0] == m), len(names)))
    legend_below(fig, [legend[k] for k in keys], ncol=min(len(legend), 3), labels=keys)
    return fig


def method_bars(comp: pd.DataFrame, ncols: int = 3) -> plt.Figure:
    """This project's number per method (mean over seeds, whisker: the 95 % t interval), one panel per
    set of runs (dataset and variant), bars coloured by the method's group, no paper number beside them.
    ``comp``: one preset's :func:`imlib.tables.study_b_comparison`."""
    ran = comp.dropna(subset=["reproduced"])
    ran = ran.assign(variant=ran.variant.fillna(""))
    groups = sorted(ran.groupby(["paper_dataset", "dataset", "variant"], sort=True),
                    key=lambda kg: _paper_order(kg[0][0]))
    order = [registry.display_name(k) for k in registry.method_keys(study="b")]
    ncols = max(1, min(ncols, len(groups)))
    nrows = max(1, math.ceil(len(groups) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(WIDTH, (0.24 * len(order) + 1.0) * nrows + 0.6),
                             layout="constrained", squeeze=False, sharey=True)
    for ax, ((target, dataset, variant), grp) in zip(axes.flat, groups):
        grp = grp.assign(name=[registry.display_name(m) for m in grp.method])
        grp = grp.set_index("name").reindex([n for n in order if n in set(grp.method.map(registry.display_name))])
        ys = [order.index(n) for n in grp.index]
        half = ((grp.ci_high - grp.ci_low) / 2).fillna(0).to_numpy()
        colours = [KIND_COLOURS.get(registry.get_method(m).kind, "#999999") for m in grp.method]
        ax.barh(ys, grp.reproduced, xerr=half, color=colours, height=0.7,
                error_kw={"elinewidth": 1, "capsize": 2, "ecolor": "#333333"})
        ax.set_yticks(range(len(order)), order)
        ax.set_ylim(len(order) - 0.5, -0.5)
        ax.set_xlabel(METRIC_AXIS.get(grp.metric.iloc[0], grp.metric.iloc[0]))
        ax.set_title(_panel_title(dataset, bool(grp.synthetic.iloc[0]), target, variant or None), fontsize=10)
        ax.grid(axis="y", visible=False)
    for ax in axes.flat[len(groups):]:
        ax.set_visible(False)
    kinds = [k for k in KIND_COLOURS if any(registry.get_method(m).kind == k for m in ran.method)]
    legend_below(fig, [Patch(color=KIND_COLOURS[k]) for k in kinds], ncol=len(kinds),
                 labels=[registry.GROUPS[k] for k in kinds])
    return fig
