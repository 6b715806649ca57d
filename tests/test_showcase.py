"""The figure helpers: the worked IM example must show the teachers' actual disagreement."""
import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from imlib import plots, showcase  # noqa: E402

TINY = dict(image_size=32, n_train=20, n_val=4, n_test=4, epochs=1, steps_per_epoch=1, batch_size=4, alpha=0.25)


@pytest.mark.parametrize("dataset", ["synthetic-lesion", "synthetic-scenes", "synthetic-cells"])
def test_im_example_mask_is_the_teachers_disagreement(dataset, tmp_path):
    ctx, teachers = showcase.teachers(dataset, n=2, work_dir=str(tmp_path), **TINY)
    index = showcase.typical_example(ctx, teachers, candidates=8)
    ex = showcase.im_example(ctx, teachers, index)
    a, b = ex.teacher_labels
    disagree = (a != b).any(0)
    if ctx.task.kind == "multilabel":  # the position channel is compared before its disc redraw
        assert ex.mask[(a[:2] != b[:2]).any(0)].all()  # alive/dead disagreement is always masked
    else:
        assert np.array_equal(ex.mask, disagree)
    assert (ex.blacked[:, ex.mask] == 0).all()
    assert ex.image.shape[-2:] == ex.mask.shape == ex.label.shape[-2:]
    fig = plots.im_pair_figure(ex.image, ex.teacher_labels, ex.label, ex.mask, ex.blacked, ctx.task, truth=ex.truth)
    assert len(fig.axes) == 7


def test_generation_showcase_round_trip():
    from imlib.results import encode_array

    masks = np.zeros((3, 8, 8), bool)
    masks[1, 2:4, 2:4] = True
    gen = {"pseudo_labels": {"showcase": {"mask": encode_array(masks), "label": encode_array(np.ones((3, 1, 8, 8), np.uint8)),
                                          "unlabeled_index": [0, 1, 2]}}}
    rec = {"run_id": "x", "generations": [{"generation": 0}, gen, gen]}
    m, lab = showcase.generation_showcase(rec, which=1)
    assert len(m) == 2 and m[0].sum() == 4 and lab[0].shape == (1, 8, 8)
    with pytest.raises(ValueError, match="no generation showcase"):
        showcase.generation_showcase({"run_id": "y", "generations": [{"generation": 0}]})
