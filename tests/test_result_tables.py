"""The Study A and Study B pages' tables and charts (imlib.tables, imlib.study_a.tables, imlib.result_figures),
and the claims the pages' prose makes about the committed records."""
import matplotlib

matplotlib.use("Agg")

import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from test_methods import _stand_in  # noqa: E402

from imlib import plots, result_figures, tables  # noqa: E402
from imlib.paths import RESULTS_DIR  # noqa: E402
from imlib.records import load_all  # noqa: E402
from imlib.study_a import records as study_a_records  # noqa: E402
from imlib.study_a import tables as study_a_tables  # noqa: E402


def test_the_papers_study_b_table_keeps_every_row_and_column():
    """Cityscapes included, although this project has no Study B run for it, and nothing of this project."""
    paper = tables.paper_table()
    assert [d for d, _ in paper.columns] == ["ISIC 2018", "HeLa", "SUIM", "Cityscapes"]
    assert paper.loc[("generational self-training (ME, IM)", "IM"), ("Cityscapes", "mIoU % ↑")] == 40.7
    assert paper.loc[("supervised references", "Labeled Only (LDT)"), ("HeLa", "MCCE ↓")] == 9.9
    assert len(paper) == 12 and paper.notna().all().all()


def test_the_reproduced_table_stands_apart_from_the_paper():
    recs = (_stand_in("ldt", [0.60, 0.62, 0.64]) + _stand_in("im", [0.70, 0.70, 0.70])
            + _stand_in("ldt", [3.0, 3.2], "synthetic-cells", "mcce", "hela", higher=False))
    mine = tables.reproduced_table(tables.study_b_comparison(recs))
    assert list(mine.columns) == [("synthetic-lesion † (for ISIC 2018)", "IoU % ↑, mini, 3 seeds"),
                                  ("synthetic-cells † (for HeLa)", "MCCE ↓, mini, 2 seeds")]
    lesion = mine.columns[0]
    assert mine.loc[("supervised references", "Labeled Only (LDT)"), lesion] == "62.0 ± 5.0"
    assert mine.loc[("generational self-training (ME, IM)", "IM"), lesion] == "70.0 ± 0.0"
    assert mine.loc[("semi-supervised baselines", "FixMatch"), lesion] == "not run"
    assert mine.loc[("supervised references", "Labeled Only (LDT)"), mine.columns[1]] == "3.10 ± 1.27"
    assert not any("67.1" in str(v) for v in mine.to_numpy().ravel())  # the paper's LDT number is not in it
    assert tables.reproduced_table(tables.study_b_comparison([])).empty


def test_findings_say_where_im_loses_and_what_one_seed_cannot_say():
    recs = (_stand_in("ldt", [0.50, 0.52, 0.51]) + _stand_in("im", [0.60, 0.61, 0.62])
            + _stand_in("me", [0.70, 0.72, 0.71]) + _stand_in("unimatch", [0.60, 0.70, 0.55]))
    found = tables.study_b_findings(tables.study_b_comparison(recs), tables.paired_comparisons(recs))
    (said,) = found.values()
    assert said[0].startswith("**better** than LDT: +10.00 points")
    assert said[1].startswith("**worse** than Model Ensemble: −10.00 points") and "IM ahead on 0 of 3 seeds" in said[1]
    assert said[2].startswith("against UniMatch (best semi-supervised on validation)")
    assert "includes zero" in said[2]
    assert "**behind** 2 other methods" in said[3] and "Model Ensemble (ME) 71.0" in said[3]
    alone = _stand_in("im", [0.60, 0.61, 0.62])  # IM alone with its settings: nothing to rank it against
    (said,) = tables.study_b_findings(tables.study_b_comparison(alone), tables.paired_comparisons(alone)).values()
    assert said == ["IM (61.0) is the only method trained on the same 10 % of labels with these settings: "
                    "nothing to rank it against"]
    one = _stand_in("ldt", [0.6]) + _stand_in("im", [0.5])
    (said,) = tables.study_b_findings(tables.study_b_comparison(one), tables.paired_comparisons(one)).values()
    assert "on a single seed (no interval: not a finding)" in said[0]
    text = tables.findings_markdown(found, "What these numbers show", "intro")
    assert text.startswith("```{admonition} What these numbers show\n:class: important") and text.endswith("```")


def test_styled_tables_pad_wrap_and_hide_meaningless_labels():
    frame = pd.DataFrame({"comparison": ["vs a long name", "vs b"], "value": [1.0, 2.0]},
                         index=pd.Index(["x", "y"], name="dataset"))
    html = tables.styled(frame, caption="cap", wrap=("comparison",)).to_html()
    assert "padding" in html and "<caption>cap</caption>" in html
    assert "td.col0" in html and "white-space: normal" in html  # the wrapped column beats the td rule
    assert ">dataset<" not in html  # index names hidden
    assert "row_heading" not in tables.styled(frame, index=False).to_html()


def test_study_a_paper_table_has_one_block_per_host_and_the_right_gain():
    paper = study_a_tables.paper_table()
    hosts = list(dict.fromkeys(paper.index.get_level_values("host")))
    assert hosts == ["Supervised Only · ResNet-50", "U2PL · ResNet-50", "UniMatch · ResNet-50", "iMAS · ResNet-50",
                     "UniMatch v2 · DINOv2-S", "SegKC · DINOv2-S"]
    assert list(paper.columns) == ["1/16 (186)", "1/8 (372)", "1/4 (744)", "1/2 (1488)"]
    host = "Supervised Only · ResNet-50"
    assert paper.loc[(host, "without IM"), "1/16 (186)"] == 64.93
    assert paper.loc[(host, "gain"), "1/16 (186)"] == pytest.approx(72.53 - 64.93)
    gains = paper.xs("gain", level=1)
    assert (gains > 0).all().all()  # as reported: with IM above without, everywhere


def test_study_a_reproduced_table_from_the_committed_records():
    runs = study_a_records.load_all(RESULTS_DIR)
    mine = study_a_tables.reproduced_table(runs)
    assert list(mine.columns) == ["1/8 (372)"]  # only the split that has runs
    assert len(mine) == 2 * 6 and set(mine.index.get_level_values(1)) == {"without IM", "with IM"}
    assert all("†" in v for v in mine["1/8 (372)"])  # smoke on a stand-in: every cell marked
    assert "smoke" in study_a_tables.provenance_line(runs)
    variants = study_a_tables.format_variants(study_a_tables.variants_table(runs))
    assert list(dict.fromkeys(variants.index.get_level_values("host")))[0] == "Supervised Only"
    assert study_a_tables.reproduced_table([]).empty


@pytest.fixture(autouse=True)
def book_style():
    plots.use_book_style()


def test_gain_axis_never_starts_at_zero_when_every_gain_is_positive():
    fig = result_figures.im_gain_figure(study_a_tables.comparison([]))
    assert plots.legibility_problems(fig) == []
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and 0 < ax.get_xlim()[0] < 0.22 and ax.get_xlim()[1] > 7.6
    assert ax.get_legend() is None and fig.legends  # the colour key sits outside the axes
    labels = {t.get_text() for t in ax.texts}
    assert {"+7.60", "+0.22"} <= labels
    assert [t.get_text() for t in ax.get_yticklabels()][0] == "Supervised Only · ResNet-50"
    lost = pd.DataFrame({"method": ["A", "A"], "backbone": ["b", "b"], "split": ["1/8", "1/4"],
                         "IM gain": [-0.5, 1.0]})
    ax = result_figures.im_gain_figure(lost).axes[0]
    assert ax.get_xscale() == "linear" and ax.get_xlim()[0] < -0.5


def _generation_rows(dataset, paper, metric, values):
    return [{"dataset": dataset, "paper_dataset": paper, "method": m, "kind": kind, "preset": "mini", "variant": None,
             "seed": s, "generation": g, "metric": metric, "value": v, "mask_fraction": None}
            for (m, kind, g), vs in values.items() for s, v in enumerate(vs)]


def test_generation_curves_panel_per_dataset_in_the_papers_order():
    frame = pd.DataFrame(
        _generation_rows("synthetic-cells", "hela", "mcce", {("im", "generational", 0): [3, 3],
                                                             ("im", "generational", 1): [2, 2.2],
                                                             ("ldt", "reference", 0): [3, 3.1]})
        + _generation_rows("synthetic-lesion", "isic2018", "iou", {("im", "generational", 0): [60, 61],
                                                                   ("me", "generational", 0): [60, 61]}))
    fig = result_figures.generation_curves(frame)
    assert plots.legibility_problems(fig) == []
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title().split("\n")[0] for ax in axes] == ["synthetic-lesion †", "synthetic-cells †"]
    assert axes[1].get_ylabel().startswith("test MCCE ↓")
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend[:2] == ["IM", "ME"] and "LDT (reference)" in legend
    assert all(ax.get_legend() is None for ax in axes)


def test_method_bars_one_panel_per_stand_in_with_the_group_key_outside():
    recs = _stand_in("ldt", [0.60, 0.62, 0.64]) + _stand_in("im", [0.70, 0.71, 0.72])
    fig = result_figures.method_bars(tables.study_b_comparison(recs))
    assert plots.legibility_problems(fig) == []
    (ax,) = [a for a in fig.axes if a.get_visible()]
    assert ax.get_xlabel() == "test IoU (%) ↑" and ax.get_xlim()[0] == 0
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["supervised references",
                                                                   "generational self-training (ME, IM)"]


# --- The pages' prose states facts about the committed records: these keep it true ------------------------

@pytest.fixture(scope="module")
def study_b_records():
    return [r for r in load_all(RESULTS_DIR) if r.config.study == "b"]


def _final_vs_start(frame, dataset, preset, method="im"):
    part = frame[(frame.dataset == dataset) & (frame.preset == preset) & (frame.method == method)]
    means = part.groupby("generation").value.mean()
    return means.iloc[0], means.iloc[-1]


def test_the_study_b_prose_on_the_generation_curves(study_b_records):
    gens = tables.generation_frame(study_b_records)
    # mini: IM's mean improves with every generation on every stand-in (MCCE: lower)
    for dataset, lower in (("synthetic-lesion", False), ("synthetic-cells", True), ("synthetic-scenes", False)):
        part = gens[(gens.dataset == dataset) & (gens.preset == "mini") & (gens.method == "im")]
        means = part.groupby("generation").value.mean()
        assert means.is_monotonic_decreasing if lower else means.is_monotonic_increasing
    # smoke: IM gets worse on synthetic-cells (MCCE up from 2.5 to 5.3) and synthetic-scenes (42 -> 29)
    assert [round(v, 1) for v in _final_vs_start(gens, "synthetic-cells", "smoke")] == [2.5, 5.3]
    assert [round(v) for v in _final_vs_start(gens, "synthetic-scenes", "smoke")] == [42, 29]
    # ... and there FDT is below LDT, the reason the check cannot rank methods
    refs = gens[(gens.preset == "smoke") & (gens.kind == "reference")].groupby(["dataset", "method"]).value.mean()
    assert refs["synthetic-cells", "fdt"] > refs["synthetic-cells", "ldt"]  # MCCE: worse
    assert refs["synthetic-scenes", "fdt"] < refs["synthetic-scenes", "ldt"]


def test_the_study_b_prose_on_im_against_the_others(study_b_records):
    mini = [r for r in study_b_records if r.config.preset == "mini" and not r.config.variant]
    paired = tables.paired_comparisons(mini)
    for dataset in ("synthetic-lesion", "synthetic-cells", "synthetic-scenes"):
        part = paired[paired.dataset == dataset].set_index("comparison")
        assert part.loc["IM vs LDT", "verdict"] == part.loc["IM vs Model Ensemble", "verdict"] == "IM better"
        best = part[part.index.str.startswith("IM vs best semi-supervised")]
        assert (best.verdict == "no detectable difference").all()
    comp = tables.study_b_comparison(mini)
    found = tables.study_b_findings(comp, paired)
    behind = {k.split("`")[1]: s[-1] for k, s in found.items()}
    assert "**behind** 4 other methods" in behind["synthetic-lesion"]
    assert "**behind** 4 other methods" in behind["synthetic-scenes"]
    assert behind["synthetic-cells"].startswith("no other method")


def test_the_study_a_prose_on_the_reported_gains():
    comp = study_a_tables.comparison([])
    gains = comp.groupby("method")["IM gain"].agg(["min", "max"]).round(2)
    assert tuple(gains.loc["Supervised Only"]) == (1.13, 7.60)
    semi = gains.loc[["U2PL", "UniMatch", "iMAS"]]
    assert semi["min"].min() == 0.40 and semi["max"].max() == 2.01
    dino = gains.loc[["UniMatch v2", "SegKC"]]
    assert dino["min"].min() == 0.22 and dino["max"].max() == 0.63


def test_generations_table_marks_the_reported_generation_in_percent():
    from imlib.records import load_all
    from imlib.paths import RESULTS_DIR

    record = next(r for r in load_all(RESULTS_DIR) if r.config.method == "im" and len(r.generations) > 1)
    frame = tables.generations_table(record).data
    assert list(frame.generation) == [g.generation for g in record.generations]
    marked = frame[frame.reported == "◀ reported"]
    assert list(marked.generation) == [record.result.generation]
    assert frame.reported[0] == "teachers: not a candidate"  # the paper's rule: generation 0 is never reported
    metric = record.task.metric
    scale = 1.0 if metric == "mcce" else 100.0
    assert marked.iloc[0, 3] == pytest.approx(record.result.test[metric] * scale)
