"""The figure helpers: the worked IM example must show the teachers' actual disagreement."""
import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from imlib import plots, showcase  # noqa: E402

TINY = dict(image_size=32, n_train=20, n_val=4, n_test=4, epochs=1, steps_per_epoch=1, batch_size=4, alpha=0.25)


@pytest.mark.parametrize("dataset", ["synthetic-lesion", "synthetic-scenes", "synthetic-cells"])
def test_im_example_mask_is_the_teachers_disagreement(dataset, tmp_path):
    run, teachers = showcase.teachers(dataset, n=2, work_dir=str(tmp_path), **TINY)
    index = showcase.typical_example(run, teachers, candidates=8)
    ex = showcase.im_example(run, teachers, index)
    a, b = ex.teacher_labels
    disagree = (a != b).any(0)
    if run.task.kind == "multilabel":  # the position channel is compared before its disc redraw
        assert ex.mask[(a[:2] != b[:2]).any(0)].all()  # alive/dead disagreement is always masked
    else:
        assert np.array_equal(ex.mask, disagree)
    assert (ex.blacked[:, ex.mask] == 0).all()
    assert ex.image.shape[-2:] == ex.mask.shape == ex.label.shape[-2:]
    fig = plots.im_pair_figure(ex.image, ex.teacher_labels, ex.label, ex.mask, ex.blacked, run.task, truth=ex.truth)
    assert len(fig.axes) == 7
    line = showcase.teachers_line(run, teachers)  # where the figure's teachers come from
    assert f"{dataset} (synthetic stand-in for" in line and "preset smoke, seed 0" in line


def test_generation_showcase_round_trip(tmp_path):
    """The masks and pseudo-labels an IM record stores come back per generation, beside the image they belong to."""
    from imlib import methods
    from imlib.config import make_config

    cfg = make_config("smoke", dataset="synthetic-lesion", method="im", work_dir=str(tmp_path), generations=2, **TINY)
    record = methods.run(cfg, progress=False)
    shown = showcase.generation_showcase(record, which=1)
    assert len(shown.masks) == len(shown.labels) == 2
    for g, mask, label in zip(record.generations[1:], shown.masks, shown.labels):
        assert np.array_equal(mask, g.pseudo_labels.showcase.mask.decode()[1].astype(bool))
        assert label.shape == (1, 32, 32)
    run, _ = showcase.selected_model(record)
    assert np.array_equal(shown.image, run.dataset.unlabeled.images[1].numpy())  # the image the mask belongs to
    ldt = methods.run(make_config("smoke", dataset="synthetic-lesion", method="ldt", work_dir=str(tmp_path), **TINY),
                      progress=False)
    with pytest.raises(ValueError, match="no generation showcase"):
        showcase.generation_showcase(ldt)
    table = showcase.generation_table(record)  # per generation, in %
    assert list(table.index) == [1, 2]
    for g in record.generations[1:]:
        assert table.loc[g.generation, "mask (% of pixels)"] == pytest.approx(100 * g.pseudo_labels.mask_fraction)
        assert table.loc[g.generation, "images kept"] == g.pseudo_labels.kept
    with pytest.raises(ValueError, match="no pseudo-label statistics"):
        showcase.generation_table(ldt)
