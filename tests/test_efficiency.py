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
        # rows rounded to 1e-4 h each: their sum is the total to that rounding
        assert by_method["hours per seed"].sum() == pytest.approx(result["per_seed_hours"], abs=1e-4 * len(by_method))


def test_a_missing_or_broken_result_names_its_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="packed-tpu.json"):
        efficiency.load("packed-tpu", tmp_path)
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="bad.json"):
        efficiency.load("bad", tmp_path)
    (tmp_path / "x.json").write_text(json.dumps({}))
    assert efficiency.available("x", tmp_path) == ["x"]
