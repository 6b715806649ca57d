"""The method registry is the one list of methods: a method registered here appears in the batch grid,
the CLI, the Study B table and the figures without touching any of them."""
import matplotlib

matplotlib.use("Agg")

import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from imlib import batch, records, result_figures, tables  # noqa: E402
from imlib.cli import main  # noqa: E402
from imlib.methods.options import Option  # noqa: E402
from imlib.methods.registry import MethodSpec, get_method, method_keys, methods, registered  # noqa: E402
from imlib.selection import improves, pick_best, rank  # noqa: E402

TINY = dict(image_size=32, n_train=40, n_val=6, n_test=6, epochs=1, steps_per_epoch=2, batch_size=4, alpha=0.25)


def toy_run(run):
    """A toy semi-supervised method: one supervised model on the labeled images, trained for
    ``options["epochs"]`` epochs."""
    run.settings.epochs = run.options["epochs"]
    ranked = run.rank(run.train_models("toy", run.supervised(run.dataset.labeled), 1, scope="method"))
    return [run.generation_record(0, ranked, train_images=len(run.dataset.labeled))]


TOY = MethodSpec("toy", "Toy", "semi-supervised", toy_run, "#123456",
                 options={"epochs": Option(1, "as few as a test can afford")}, summary="a test's method")


def test_study_b_registry_holds_the_papers_rows_in_order():
    assert method_keys(study="b") == ["ldt", "aldt", "fdt", "afdt", "fixmatch", "fpl", "crossmatch", "imas", "u2pl",
                                      "unimatch", "me", "im"]
    reported = set(tables.reported_study_b().method)
    assert {m.paper_row for m in methods(study="b")} == reported
    assert all(m.colour.startswith("#") for m in methods())
    assert get_method("im").reuses_references and get_method("u2pl").group == "semi-supervised baselines"
    with pytest.raises(ValueError, match="unknown method 'nope'"):
        get_method("nope")
    with pytest.raises(ValueError, match="registered twice"):
        with registered(MethodSpec("im", "IM again", "generational", toy_run, "#000000")):
            pass


def test_a_registered_method_reaches_grid_cli_table_and_figure(tmp_path, capsys):
    with registered(TOY):
        grid = batch.expand_grid("b", "smoke", ["synthetic-lesion"], seeds=[0], overrides={
            **TINY, "work_dir": str(tmp_path / "work"), "results_dir": str(tmp_path / "results")})
        assert [c.method for c in grid][-1] == "toy"
        toy_cfg = grid[-1]
        assert toy_cfg.options == {"epochs": 1}  # its declared default filled in
        assert batch.run_batch([toy_cfg], executor="inprocess", progress=False).ok
        rec = records.load(records.record_path(tmp_path / "results", toy_cfg.run_id))
        assert len(rec.generations[0].models[0].history) == 1  # the option reached the method
        # the CLI accepts it
        assert main(["train", "--dataset", "synthetic-lesion", "--method", "toy", "--quiet", "--seed", "1",
                     "--results-dir", str(tmp_path / "results"), "--work-dir", str(tmp_path / "work"),
                     "--option", "epochs=1", "--set"] + [f"{k}={v}" for k, v in TINY.items()]) == 0
        assert "toy" in capsys.readouterr().out
        # the table has a row for it (no paper number), with both seeds
        comp = tables.study_b_comparison(records.load_all(tmp_path / "results"))
        row = comp[(comp.method == "toy") & (comp.paper_dataset == "isic2018")].iloc[0]
        assert row.paper_method == "Toy" and pd.isna(row.reported) and row.seeds == 2
        wide = tables.format_study_b(comp)
        assert wide.index[-1] == "Toy" and wide.loc["Toy"].iloc[0] == "—"
        assert "Toy" in set(tables.hyperparameter_table().method)
        # the figure draws it in its colour and name
        # the figure draws it under its name
        fig = result_figures.method_bars(comp)
        assert "Toy" in {t.get_text() for ax in fig.axes for t in ax.get_yticklabels()}
    assert "toy" not in method_keys()


def test_the_selection_rule():
    assert rank([3, 1, 2], float, higher_is_better=True) == [3, 2, 1]
    assert rank([3, 1, 2], float, higher_is_better=False) == [1, 2, 3]
    ties = [("a", 1.0), ("b", 2.0), ("c", 2.0)]
    assert pick_best(ties, lambda t: t[1], True)[0] == "b"  # the earlier of equals
    assert improves(0.5, None, True) and not improves(0.5, 0.5, True) and improves(0.4, 0.5, False)
    with pytest.raises(ValueError):
        pick_best([], float, True)
