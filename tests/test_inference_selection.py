"""Issue 18, items 5 and 6: inference over the real classes only (the IM class left out of the argmax) as an
option beside the paper's, and the headline's selection rule with the teachers' scores beside it."""
import dataclasses

import pytest
import torch

from imlib import methods, records
from imlib.config import make_config
from imlib.data.task import Task
from imlib.losses import activate, discretise
from imlib.metrics import im_class_share, score
from imlib.selection import SELECTION_RULES, choose_headline

TINY = dict(image_size=32, n_train=40, n_val=6, n_test=6, epochs=2, steps_per_epoch=2, batch_size=4,
            n_models=2, n_students=2, generations=1, aug_copies=1, alpha=0.25)
SCENES = Task("multiclass", 3, 4, ("IM", "water", "fish", "reef"))


def test_real_class_inference_never_predicts_the_im_class():
    logits = torch.randn(2, 4, 8, 8)
    logits[:, 0] += 5  # the IM class wins the paper's argmax almost everywhere
    paper = discretise(activate(logits, SCENES), SCENES)
    real_task = dataclasses.replace(SCENES, predict_im_class=False)
    probs = activate(logits, real_task)
    real = discretise(probs, real_task)
    assert (paper == 0).float().mean() > 0.9
    assert not (real == 0).any()
    assert torch.equal(real[:, 0], logits[:, 1:].argmax(1).to(torch.uint8) + 1)  # the best real class
    assert torch.allclose(probs.sum(1), torch.ones(2, 8, 8)) and (probs[:, 0] == 0).all()


def test_im_class_share_counts_scored_pixels_predicted_as_the_im_class():
    gt = torch.tensor([[[[1, 2], [3, 255]]]], dtype=torch.uint8)
    pred = torch.tensor([[[[0, 2], [0, 0]]]], dtype=torch.uint8)  # 2 of the 3 scored pixels are the IM class
    assert im_class_share(pred, gt, SCENES) == pytest.approx(2 / 3)
    assert score(pred, gt, SCENES)["im_class_share"] == pytest.approx(2 / 3)


def _cfg(tmp_path, **kw):
    return make_config("smoke", **{**TINY, "work_dir": str(tmp_path / "models"), "results_dir": str(tmp_path / "res"),
                                   "dataset": "synthetic-scenes", "method": "im", **kw})


def test_an_im_run_with_real_class_inference_records_it_and_never_predicts_the_im_class(tmp_path):
    paper = methods.run(_cfg(tmp_path), progress=False)
    real = methods.run(_cfg(tmp_path, inference="real-classes"), progress=False)
    assert paper.config.inference == "paper" and real.config.inference == "real-classes"
    assert real.run_id != paper.run_id and "inference='real-classes'" in real.config.variant
    for g in real.generations:
        for m in g.models:
            assert m.test["im_class_share"] == 0 and m.val["im_class_share"] == 0
    # the option changes predictions, so it changes the models (never reused across the two modes)
    assert not any(m.reused for g in real.generations for m in g.models)
    loaded = records.from_dict(records.migrate(real.to_dict()))
    assert loaded.config.inference == "real-classes"


def test_real_class_inference_is_refused_for_tasks_without_an_im_class(tmp_path):
    with pytest.raises(ValueError, match="synthetic-lesion is a binary task, which has no IM class"):
        methods.run(_cfg(tmp_path, dataset="synthetic-lesion", inference="real-classes"), progress=False)
    with pytest.raises(ValueError, match="inference must be one of paper, real-classes"):
        _cfg(tmp_path, inference="argmax")


class Gen:
    def __init__(self, generation, val):
        self.generation, self.val = generation, val


@pytest.mark.parametrize("higher, vals, paper_pick, below", [
    (True, [0.6, 0.5, 0.55], 2, True),  # no generation beats the teachers: the paper still reports one
    (True, [0.4, 0.5, 0.45], 1, False),
    (False, [2.0, 3.0, 2.5], 2, True),  # MCCE: lower is better
])
def test_the_selection_rule_and_the_teachers_beside_it(higher, vals, paper_pick, below):
    gens = [Gen(i, v) for i, v in enumerate(vals)]
    paper = choose_headline(gens, lambda g: g.generation, lambda g: g.val, higher, "paper")
    assert paper.best.generation == paper_pick and paper.teachers is gens[0] and paper.below_teachers is below
    assert gens[0] not in paper.candidates
    with_teachers = choose_headline(gens, lambda g: g.generation, lambda g: g.val, higher, "with-teachers")
    assert with_teachers.best.generation == (0 if below else paper_pick) and not with_teachers.below_teachers
    single = choose_headline(gens[:1], lambda g: g.generation, lambda g: g.val, higher, "paper")
    assert single.best is gens[0] and single.teachers is None and single.below_teachers is None
    assert set(SELECTION_RULES) == {"paper", "with-teachers"}


def test_a_run_record_names_its_rule_and_its_teachers(tmp_path):
    rec = methods.run(_cfg(tmp_path, generations=2), progress=False)
    res, metric = rec.result, rec.task.metric
    gen0 = rec.generations[0]
    assert res.selection == "paper" and res.generation >= 1
    assert res.teachers.model == gen0.selected and res.teachers.val == gen0.val and res.teachers.test == gen0.test
    assert res.below_teachers == (gen0.val[metric] > res.val[metric])
    other = methods.run(_cfg(tmp_path, generations=2, selection="with-teachers"), progress=False)
    best = max(rec.generations, key=lambda g: (g.val[metric], -g.generation))
    assert other.result.generation == best.generation and other.result.selection == "with-teachers"
    assert other.run_id != rec.run_id  # another rule, another record; the same models (reused)
    assert all(m.reused for g in other.generations for m in g.models)


def test_older_records_gain_the_rule_and_the_teachers(tmp_path):
    rec = methods.run(_cfg(tmp_path), progress=False).to_dict()
    old = {**rec, "schema": 3, "result": {k: v for k, v in rec["result"].items()
                                          if k not in ("selection", "teachers", "below_teachers")}}
    new = records.from_dict(records.migrate(old))
    assert new.result.selection == "paper" and new.result.teachers.model == rec["generations"][0]["selected"]
    assert new.result.below_teachers == rec["result"]["below_teachers"]


def test_the_cli_says_when_the_headline_is_worse_than_its_teachers(tmp_path, capsys, monkeypatch):
    from imlib import cli

    def fake_run(cfg, progress=True):
        rec = real_run(cfg, progress=False)
        metric = rec.task.metric
        rec.result.teachers.val = {**rec.result.teachers.val, metric: rec.result.val[metric] + 0.5}
        rec.result.below_teachers = True
        return rec

    real_run = methods.run
    monkeypatch.setattr(methods, "run", fake_run)
    args = ["train", "--dataset", "synthetic-scenes", "--method", "im", "--preset", "smoke", "--quiet",
            "--results-dir", str(tmp_path / "res"), "--work-dir", str(tmp_path / "models"),
            "--set", *[f"{k}={v}" for k, v in TINY.items()]]
    assert cli.main(args) == 0
    out = capsys.readouterr().out
    assert "is worse on validation than its LDT teachers (ldt-" in out and "selection=with-teachers" in out


def test_the_book_tables_show_the_teachers_and_both_inference_modes(tmp_path):
    from imlib import tables

    runs = [methods.run(_cfg(tmp_path, seed=s, inference=mode), progress=False)
            for mode in ("paper", "real-classes") for s in (0, 1)]
    frame = tables.generations_table(runs[0]).data
    assert frame.loc[0, "reported"] == "teachers: not a candidate" and frame.loc[1, "reported"] == "◀ reported"
    assert tables.teachers_comparison(runs).empty  # every tiny run is a variant of the smoke preset
    teachers = tables.teachers_comparison(runs, presets_only=False)
    assert len(teachers) == 4 and set(teachers["gen."]) == {1}
    row = teachers.iloc[0]
    rec = next(r for r in runs if r.config.seed == row["seed"] and r.config.inference == "paper")
    assert row["val: reported / teachers"].endswith(f"/ {100 * rec.generations[0].val['miou']:.2f}")
    assert row["worse (val)"] == ("yes" if rec.result.below_teachers else "no")
    table, paired = tables.inference_comparison(runs)
    assert list(table["inference"]) == ["paper", "real-classes"] and list(table["seeds"]) == ["0, 1", "0, 1"]
    assert table.loc[1, "IM-class pixels, % of test (per seed)"] == "0.0, 0.0"
    diffs = [100 * (runs[2 + s].result.test["miou"] - runs[s].result.test["miou"]) for s in (0, 1)]
    assert paired.difference.mean == pytest.approx(sum(diffs) / 2) and paired.difference.n == 2
    html = tables.inference_section(runs, "synthetic-scenes", "smoke")
    assert "real-classes minus paper, paired over 2 seeds" in html and "<table" in html
    assert tables.inference_section(runs, "synthetic-lesion", "smoke") is None
    with pytest.raises(ValueError, match="one dataset, method and preset"):
        tables.inference_comparison(runs + [methods.run(_cfg(tmp_path, method="ldt"), progress=False)])
