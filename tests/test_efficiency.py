"""The Efficiency page's tables come from the committed benchmark results, and the Study B cost model counts
the steps of the presets' protocols (a wrong count would misstate what the paper preset costs)."""
from __future__ import annotations

import importlib.util
import json

import pytest

from imlib import efficiency
from imlib.config import make_config
from imlib.paths import PROJECT_ROOT


def cost_module():
    spec = importlib.util.spec_from_file_location("study_b_cost", PROJECT_ROOT / "benchmarks" / "study_b_cost.py")
    module = importlib.util.module_from_spec(spec)
    import sys

    sys.path.insert(0, str(PROJECT_ROOT / "benchmarks"))  # its `timing` helper
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(PROJECT_ROOT / "benchmarks"))
    return module


def test_protocol_counts_the_papers_steps():
    cost = cost_module()
    paper = make_config("paper", dataset="synthetic-lesion")  # ISIC-sized: 2594 train, 10 % labeled
    ldt = cost.protocol(paper, "ldt")
    assert ldt["models"] == 10 and ldt["steps_per_model"] == 50 * (259 // 32)  # 259 labeled images
    afdt = cost.protocol(paper, "afdt")
    assert afdt["steps_per_model"] == 50 * (2594 * 10 // 32)  # the full set and 9 augmented copies
    im = cost.protocol(paper, "im")
    assert im["models"] == 25 and im["steps_per_model"] == 50 * (2594 // 32)  # 5 x 5 students, every image
    assert im["predicted_images"] > 5 * 2 * 2335  # the teachers label the unlabeled set every generation
    fixmatch = cost.protocol(paper, "fixmatch")
    assert fixmatch["models"] == 3 and fixmatch["steps_per_model"] == 50 * (2335 // 32)  # an unlabeled pass
    smoke = cost.protocol(make_config("smoke", dataset="synthetic-lesion"), "afdt")
    assert smoke["steps_per_model"] == 12 * 10  # smoke: a fixed budget whatever the set


def test_tables_come_from_the_committed_results():
    packed = efficiency.load("packed-cpu")
    table = efficiency.packed_table(packed)
    first = packed["results"][0]
    assert table.loc[(first["alpha"], first["models"]), "packed / one after another"] == round(
        first["packed_vs_separate"], 2)
    assert "commit" in efficiency.measured_by(packed) and packed["commit"][:12] in efficiency.measured_by(packed)
    for name in efficiency.available("study_b_cost-"):
        result = efficiency.load(name)
        by_method = efficiency.cost_by_method(result)
        assert by_method["share %"].sum() == pytest.approx(100, abs=0.5)
        # rows rounded to 0.01 min each: their sum is the total to that rounding
        assert by_method["minutes per seed"].sum() == pytest.approx(60 * result["per_seed_hours"],
                                                                   abs=0.01 * len(by_method))
        assert list(by_method["minutes per seed"]) == sorted(by_method["minutes per seed"], reverse=True)
        assert {"LDT", "IM", "CrossMatch"} <= set(by_method.index)  # the tables' names, not the keys


def test_a_missing_or_broken_result_names_its_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="packed-tpu.json"):
        efficiency.load("packed-tpu", tmp_path)
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="bad.json"):
        efficiency.load("bad", tmp_path)
    (tmp_path / "x.json").write_text(json.dumps({}))
    assert efficiency.available("x", tmp_path) == ["x"]


def test_measured_by_flags_a_dirty_tree_and_a_missing_date():
    result = {"device": {"type": "cpu", "name": "x86_64", "threads": 2}, "commit": "0d349299f8cc66be+dirty"}
    assert efficiency.measured_by(result) == "CPU x86_64, 2 threads; commit 0d349299f8cc with uncommitted changes"
    clean = {**result, "commit": "9aed4a999131abcd", "date": "2026-12-01T10:00:00"}
    assert efficiency.measured_by(clean) == "CPU x86_64, 2 threads; commit 9aed4a999131; 2026-12-01"


def test_study_a_recipes_show_every_hosts_official_values():
    from dataclasses import fields

    from imlib.methods.registry import methods
    from imlib.study_a.recipe import HostRecipe

    table = efficiency.study_a_recipes()
    hosts = methods(study="a", kind="study-a-host")
    assert list(table.columns) == [m.name.split(" (")[0] for m in hosts]  # "SegKC", not its long name
    # every setting of the recipe has a readable label (a new field must get one), none is left out
    names = [f.name for f in fields(HostRecipe) if f.name != "source"]
    assert set(names) <= set(efficiency.RECIPE_LABELS) and len(table) == len(names)
    u2pl = next(m for m in hosts if m.key == "u2pl").objective.RECIPE
    assert table.loc["GPUs", "U2PL"] == str(u2pl.gpus)
    assert table.loc["ASPP rates", "U2PL"] == ", ".join(map(str, u2pl.atrous_rates))
    assert table.loc["EMA of BN statistics", "U2PL"] == ("yes" if u2pl.ema_buffers else "no")
    v2 = next(m for m in hosts if m.key == "unimatch_v2").objective.RECIPE
    assert float(table.loc["LR (backbone)", "UniMatch V2"]) == v2.lr
    assert table.loc["ASPP rates", "UniMatch V2"] == "—"  # the DPT head has no ASPP


def test_study_a_cell_costs_come_from_the_probe():
    from imlib.study_a import costs

    probe = efficiency.load("study_a-cpu")
    table = efficiency.study_a_cell_costs(probe)
    assert list(table.columns) == ["host", "precision"] + [f"{s} labeled" for s in costs.LABELED]
    full = costs.cost_table(probe["results"])
    for _, row in full.iloc[[0, -1]].iterrows():
        shown = table[(table["host"] == row["host"]) & (table["precision"] == row["precision"])]
        assert shown[f"{row['split']} labeled"].item() == round(row["GPU-h per cell (2 teachers + IM student)"], 1)


def test_shown_prints_each_column_with_the_decimals_it_was_rounded_to():
    import pandas as pd

    table = pd.DataFrame({"ratio": [1.5, 0.35], "s": [1399.7, 8.0], "commit": ["e2cf5a9a8c25", "—"], "n": [12, 3]},
                         index=pd.Index(["LDT", "IM"], name="method"))
    html = efficiency.shown(table, caption="a caption").to_html()
    for text in (">1.50<", ">0.35<", ">1399.7<", ">8.0<", ">e2cf5a9a8c25<", ">12<", "a caption"):
        assert text in html
    assert "1.500000" not in html and "1399.700000" not in html
    # the text column is left-aligned by a rule more specific than the table's right-aligned cells
    commit_column = list(table.columns).index("commit")
    assert f"td.col{commit_column}" in html and "text-align: left" in html.split(f"td.col{commit_column}")[1][:60]


def test_cost_check_names_methods_as_the_tables_do():
    result = efficiency.load("study_b_cost-cpu-smoke")
    assert [row["method"] for row in result["check"]] == ["ldt", "im"]  # the committed check: two cells
    check = efficiency.cost_check(result)
    assert list(check.index) == ["LDT", "IM"]
    assert check.loc["IM", "measured / projected"] == result["check"][1]["ratio_measured_to_projected"]
