"""Run records: typed, validated on load (errors name the file and the field), migrated from older schemas."""
import json
from pathlib import Path

import pytest

from imlib import records
from imlib.records import RecordError

ROOT = Path(__file__).resolve().parent.parent
# the Study B records (Study A's have their own schema and tests: tests/test_study_a_engine.py)
COMMITTED = sorted(p for p in (ROOT / "data" / "results").rglob("*.json")
                   if p.relative_to(ROOT / "data" / "results").parts[0] != records.STUDY_A_FOLDER)


def _committed_raw():
    if not COMMITTED:
        pytest.skip("no committed run records")
    return json.loads(COMMITTED[0].read_text())


def test_every_committed_record_loads_with_its_numbers():
    """Whatever schema the committed records have, loading them keeps every generation's test numbers."""
    for path in COMMITTED:
        raw = json.loads(path.read_text())
        rec = records.load(path)
        assert rec.schema == records.SCHEMA_VERSION and rec.run_id == raw["run_id"]
        assert [g.test for g in rec.generations] == [g["test"] for g in raw["generations"]]
        assert rec.result.test == raw["result"]["test"]
        assert rec.headline_test == raw["result"]["test"][raw["task"]["metric"]]


def test_save_and_load_round_trip(tmp_path):
    rec = records.load(COMMITTED[0]) if COMMITTED else pytest.skip("no committed run records")
    path = tmp_path / "r.json"
    records.save(rec, path)
    assert records.load(path) == rec
    assert json.loads(path.read_text())["schema"] == records.SCHEMA_VERSION


def test_schema_1_is_migrated():
    """Schema 1 kept method options in config.extra / im_* fields and a generation's models as members."""
    old = {"schema": 1, "config": {"method": "im", "im_mode": "ignore", "im_erode": 0, "im_dilate": 3,
                                   "im_filter": None, "extra": {}},
           "generations": [{"members": [{"name": "a"}]}], "environment": {"device": {"type": "cpu"}}}
    new = records.MIGRATIONS[1](old)
    assert new["schema"] == 2 and new["config"]["options"] == {"mode": "ignore", "erode": 0, "dilate": 3,
                                                                 "filter": None}
    assert "im_mode" not in new["config"] and "extra" not in new["config"]
    assert new["generations"][0]["models"] == [{"name": "a"}] and "members" not in new["generations"][0]
    ssl = records.MIGRATIONS[1]({"schema": 1, "config": {"method": "fixmatch", "im_mode": "blackout",
                                                   "extra": {"options": {"tau": 0.5}}},
                           "generations": [{"members": [], "hyperparameters": {"tau": 0.5}}]})
    assert ssl["config"]["options"] == {"tau": 0.5} and "im_mode" not in ssl["config"]
    assert old["config"]["im_mode"] == "ignore"  # the input is left as it was


def test_schema_2_is_migrated():
    """Schema 2 did not say which network a model kept (the mean teachers kept their EMA teacher) nor what
    the headline was chosen from (all models of the candidate generations)."""
    def model(name, score):
        return {"name": name, "test": {"iou": score}}

    imas = records.MIGRATIONS[2]({"schema": 2, "config": {"method": "imas"}, "task": {"metric": "iou"}, "result": {},
                                  "generations": [{"generation": 0, "models": [model("a", 0.5), model("b", 0.7)]}]})
    assert [m["evaluated"] for m in imas["generations"][0]["models"]] == ["teacher", "teacher"]
    assert imas["result"] == {"candidates": 2, "candidates_test_mean": pytest.approx(0.6)}
    im = records.MIGRATIONS[2]({"schema": 2, "config": {"method": "im"}, "task": {"metric": "iou"}, "result": {},
                                "generations": [{"generation": 0, "models": [model("ldt", 0.1)]},
                                                {"generation": 1, "models": [model("s0", 0.4), model("s1", 0.6)]},
                                                {"generation": 2, "models": [model("t0", 0.8)]}]})
    assert {m["evaluated"] for g in im["generations"] for m in g["models"]} == {"student"}
    # generation 0 (the LDT teachers) is not a candidate of a generational method
    assert im["result"] == {"candidates": 3, "candidates_test_mean": pytest.approx(0.6)}
    assert im["schema"] == 3


@pytest.mark.parametrize("break_it, field", [
    (lambda r: r["result"].pop("test"), "record.result: missing field 'test'"),
    (lambda r: r["generations"][0].__setitem__("generation", "zero"), "record.generations[0].generation"),
    (lambda r: r["config"].__setitem__("epochz", 3), "record.config: unknown fields ['epochz']"),
    (lambda r: r["config"].__setitem__("n_teachers", 1), "record.config: IM needs at least 2 teachers"),
    (lambda r: r["generations"][0]["models"][0]["val"].__setitem__("iou", "high"), "models[0].val.iou"),
    (lambda r: r.__setitem__("schema", 99), "unknown schema 99"),
])
def test_a_bad_record_names_the_file_and_the_field(tmp_path, break_it, field):
    raw = records.migrate(_committed_raw())
    break_it(raw)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(raw))
    with pytest.raises(RecordError) as e:
        records.load(path)
    assert str(path) in str(e.value) and field in str(e.value)


def test_corrupt_json_names_the_file(tmp_path):
    bad = tmp_path / "x.json"
    bad.write_text("{not json")
    with pytest.raises(RecordError, match="x.json: not a valid run record"):
        records.load(bad)


def test_an_option_the_method_no_longer_declares_makes_a_variant():
    """A record of older code may carry an option since renamed (iMAS's cutmix_area became cutmix_side):
    it is a setting the preset does not have, so the run is a variant (its own table column), not an error
    and not silently the preset's."""
    from imlib.config import RunConfig, make_config

    old = RunConfig(**{**make_config("smoke", method="imas").to_dict(), "options": {"cutmix_area": (0.1, 0.9)}})
    assert old.variant == "option.cutmix_area=(0.1, 0.9)" and "-v" in old.run_id
    assert make_config("smoke", method="imas").variant == ""
