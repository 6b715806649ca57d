"""imlib.reproduce: a regenerated record reproduces the committed one when only provenance, timings and paths
differ; any changed result is named."""
import json

from imlib import reproduce


def _record(**result):
    return {"schema": 3, "run_id": "study_b/x/im/smoke-seed0", "created": "2026-01-01T00:00:00",
            "config": {"seed": 0, "results_dir": "/a/data/results", "work_dir": "/a/data/work"},
            "result": {"test": {"miou": 0.5, **result}},
            "generations": [{"models": [{"checkpoint": "/a/data/work/m.pt", "seconds": 3.0, "val": 0.25}]}],
            "timing": {"total_s": 19.0}, "environment": {"git_commit": "abc"}}


def _write(root, record, name="study_b/x/im/smoke-seed0.json"):
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record))


def test_only_provenance_timings_and_paths_differ(tmp_path):
    old, new = _record(), _record()
    new.update(created="2027-05-05", timing={"total_s": 5.0}, environment={"git_commit": "def"})
    new["config"].update(results_dir="/b/reproduced", work_dir="/b/work")
    new["generations"][0]["models"][0].update(checkpoint="/b/work/m.pt", seconds=9.0)
    new["config"]["new_field"] = False  # a field added to the format since: reported, not a difference
    _write(tmp_path / "old", old)
    _write(tmp_path / "new", new)
    c = reproduce.compare(tmp_path / "new", tmp_path / "old")
    assert c.identical == ["study_b/x/im/smoke-seed0"] and c.ok
    assert c.fields == {"config.new_field"}
    assert "1 of 1 records reproduce" in reproduce.report(c, "new", "old")


def test_a_changed_result_is_named(tmp_path):
    _write(tmp_path / "old", _record())
    changed = _record(miou=0.5 + 1e-6)
    changed["generations"][0]["models"][0]["val"] = 0.3
    _write(tmp_path / "new", changed)
    _write(tmp_path / "new", _record(), "study_b/x/ldt/smoke-seed0.json")  # nothing committed to compare with
    c = reproduce.compare(tmp_path / "new", tmp_path / "old")
    assert not c.ok and c.new == ["study_b/x/ldt/smoke-seed0"]
    assert [p for p, _, _ in c.differ["study_b/x/im/smoke-seed0"]] == ["generations[0].models[0].val",
                                                                      "result.test.miou"]
    text = reproduce.report(c, "new", "old")
    assert "1 differ" in text and "result.test.miou 0.5 -> 0.500001" in text
    assert reproduce.main([str(tmp_path / "new"), str(tmp_path / "old"), "--strict"]) == 1


def test_tolerance_and_nan():
    assert reproduce.differences({"a": 1.0, "b": float("nan")}, {"a": 1.0 + 1e-12, "b": float("nan")}) == []
    assert reproduce.differences([1, 2], [1, 2, 3]) == [("(length)", 3, 2)]
