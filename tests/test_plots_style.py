"""The book's figures stay readable: one style, text >= 9 pt at the column's width, a colour key for the
classes or channels and the mask, the best epoch marked on the training curves."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from imlib import plots  # noqa: E402
from imlib.data.registry import SYNTHETIC_TASKS  # noqa: E402

H = 16
TASKS = {name: task for name, (task, _) in SYNTHETIC_TASKS.items()}


@pytest.fixture(autouse=True)
def book_style():
    plots.use_book_style()
    yield
    plt.close("all")


def _label(task, rng):
    if task.kind == "multiclass":
        return rng.integers(0, task.num_outputs, (1, H, H)).astype(np.uint8)
    return (rng.random((task.label_channels, H, H)) > 0.5).astype(np.uint8)


def _figures(task):
    """Every image figure of the book for ``task``, on random material."""
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (task.in_channels, H, H)).astype(np.uint8)
    mask = rng.random((H, H)) > 0.7
    labels = np.stack([_label(task, rng) for _ in range(4)])
    images = np.stack([image] * 4)
    return {
        "im_pair": plots.im_pair_figure(image, [labels[0], labels[1]], labels[2], mask, image, task, truth=labels[3]),
        "generations": plots.generations_figure(image, labels[0], [mask] * 3, list(labels[:3]), task),
        "predictions": plots.predictions_figure(images, labels, labels[::-1], task),
        "samples": plots.samples_figure(images, labels, task),
    }


def _class_entries(task):
    if task.kind == "binary":
        return ["background", task.class_names[0]]
    if task.kind == "multiclass":  # every class with its id
        return [f"{i} {name}" for i, name in enumerate(task.class_names)]
    return list(task.class_names)


@pytest.mark.parametrize("dataset", sorted(TASKS))
def test_image_figures_carry_a_colour_key_and_legible_text(dataset):
    task = TASKS[dataset]
    for name, fig in _figures(task).items():
        assert plots.legibility_problems(fig) == [], name
        keys = plots.legend_labels(fig)
        for entry in _class_entries(task):
            assert any(k.startswith(entry) for k in keys), (name, entry, keys)
        if name in ("im_pair", "generations"):
            assert plots.MASK_NAME in keys, name
        # the key's colours are the colours painted (a patch per entry, in label_rgb's colours)
        painted = {tuple(np.round(c, 3)) for _, c in plots.label_key(task)}
        legend = fig.legends[0]
        shown = {tuple(np.round(h.get_facecolor()[:3], 3)) for h in legend.legend_handles}
        assert painted <= shown, name


def test_label_key_matches_the_painted_colours():
    task = TASKS["synthetic-cells"]  # alive, dead, position: overlaps add up
    label = np.zeros((3, 1, 2), np.uint8)
    label[0, 0, 0] = label[2, 0, 0] = 1  # alive + position
    label[1, 0, 1] = 1  # dead
    rgb = plots.label_rgb(label, task)
    key = dict(plots.label_key(task))
    assert tuple(rgb[0, 0]) == key["alive + position"]
    assert tuple(rgb[0, 1]) == key["dead"]
    scenes = TASKS["synthetic-scenes"]
    ids = np.arange(scenes.num_outputs, dtype=np.uint8).reshape(1, 1, -1)
    assert [tuple(c) for c in plots.label_rgb(ids, scenes)[0]] == [c for _, c in plots.label_key(scenes)]


def test_im_creation_figure_keys_the_sum():
    a = np.zeros((H, H), bool)
    a[2:10, 2:10] = True
    b = np.roll(a, 2, 0)
    fig = plots.im_creation_figure(a, b, image=np.zeros((3, H, H), np.uint8))
    assert plots.legibility_problems(fig) == []
    keys = plots.legend_labels(fig)
    assert any(plots.MASK_NAME in k for k in keys) and any("lesion" in k for k in keys)
    assert len(fig.axes) == 6


def test_legibility_problems_catches_small_text_and_wide_figures():
    fig, ax = plt.subplots(figsize=(10, 3))
    ax.set_title("tiny", fontsize=6)
    problems = plots.legibility_problems(fig)
    assert any("wide" in p for p in problems) and any("'tiny'" in p for p in problems)


def test_style_alias_and_fonts():
    assert plots.style is plots.use_book_style
    assert min(plt.rcParams[k] for k in ("font.size", "axes.titlesize", "axes.labelsize", "xtick.labelsize",
                                         "legend.fontsize")) >= plots.MIN_FONT_PT


def test_training_curves_mark_the_best_epoch_of_every_model(tmp_path):
    from imlib import methods
    from imlib.config import make_config

    cfg = make_config("smoke", dataset="synthetic-lesion", method="ldt", work_dir=str(tmp_path), image_size=32,
                      n_train=20, n_val=4, n_test=4, epochs=3, steps_per_epoch=1, batch_size=4, alpha=0.25,
                      n_models=2)
    record = methods.run(cfg, progress=False)
    fig = plots.training_curves(record)
    assert plots.legibility_problems(fig) == []
    keys = plots.legend_labels(fig)
    assert plots.BEST_LABEL in keys and plots.REPORTED_LABEL in keys
    val_ax = fig.axes[1]
    assert "IoU (%)" in val_ax.get_ylabel() and fig.axes[0].get_xlabel() == "epoch"
    marked = {tuple(np.round(p, 6)) for c in val_ax.collections for p in c.get_offsets()}
    models = [m for g in record.generations for m in g.models if m.history]
    assert models
    for m in models:  # a marker at (best epoch, its validation score in %) for each model
        best = next(h for h in m.history if h["epoch"] == m.best_epoch)
        assert (round(m.best_epoch + 1, 6), round(100 * best["val_score"], 6)) in marked, m.name


def test_book_tables_pad_columns_and_align_text_left_numbers_right():
    import pandas as pd

    from imlib.tables import styled

    frame = pd.DataFrame({"method": ["IM", "LDT"], "IoU (%)": [61.23, 58.0]})
    html = styled(frame, caption="where from", index=False, precision=1).to_html()
    assert "61.2" in html and "padding: 0.3em 0.7em" in html and "where from" in html
    assert "text-align: right" in html and "text-align: left" in html
