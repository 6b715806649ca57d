"""The fault catalogue of training runs, records and batches, driven through the CLI as a user would: every
bad input is one line naming the thing and what was expected, nothing broken is reported as a result, and an
interrupted command leaves everything resumable."""
import json

import pytest
import torch

from imlib import batch, records
from imlib.cli import main

TINY = dict(image_size=32, n_train=40, n_val=6, n_test=6, epochs=2, steps_per_epoch=2, batch_size=4, alpha=0.25,
            n_models=2)


def train(tmp_path, *extra, method="ldt", sets=None):
    sets = {**TINY, **(sets or {})}
    return main(["train", "--dataset", "synthetic-lesion", "--method", method, "--quiet",
                 "--results-dir", str(tmp_path / "results"), "--work-dir", str(tmp_path / "work"),
                 "--set", *[f"{k}={v}" for k, v in sets.items()], *extra])


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("imlib: error: "), err
    return err[0]


@pytest.mark.parametrize("sets, expected", [
    ({"lr": "abc"}, "lr must be float, got 'abc'"),
    ({"epochs": 0}, "epochs must be at least 1, got 0"),
    ({"batch_size": 0}, "batch_size must be at least 1, got 0"),
    ({"image_size": 40}, "image_size must be a multiple of 16"),
    ({"amp": "yes"}, "amp must be bool, got 'yes'"),
])
def test_bad_settings_fail_before_training_in_one_line(tmp_path, capsys, sets, expected):
    assert train(tmp_path, sets=sets) == 2
    assert expected in one_line_error(capsys)
    assert not (tmp_path / "work").exists()  # nothing trained


@pytest.mark.parametrize("option, expected", [
    ("erode=2", "option erode must be 0 (none) or an odd kernel size, got 2"),
    ("mode=drop", "option mode must be one of 'blackout', 'ignore', got 'drop'"),
    ("temperature=1", "unknown options ['temperature']"),
])
def test_bad_method_options_fail_before_the_teachers_train(tmp_path, capsys, option, expected):
    assert train(tmp_path, "--option", option, method="im") == 2
    assert expected in one_line_error(capsys)
    assert not (tmp_path / "work").exists()


def test_bad_devices_are_named(tmp_path, capsys):
    assert train(tmp_path, "--device", "foo") == 2
    assert "device 'foo' is not a device name" in one_line_error(capsys)
    if not torch.cuda.is_available():
        assert train(tmp_path, "--device", "cuda") == 2
        assert "CUDA is not available" in one_line_error(capsys)


def test_divergence_stops_the_run_and_keeps_nothing(tmp_path, capsys):
    assert train(tmp_path, sets={"lr": 1e9}) == 2
    line = one_line_error(capsys)
    assert "non-finite at epoch 0, step" in line and "ldt-0" in line
    assert not (tmp_path / "results").exists()  # no record
    assert not list(tmp_path.rglob("*.pt"))  # no cached model to be reused


def test_a_record_is_never_written_with_nan(tmp_path):
    with pytest.raises(ValueError):
        records.write_json_atomic({"test": {"iou": float("nan")}}, tmp_path / "r.json")
    assert not list(tmp_path.iterdir())  # neither the record nor a temporary file


def test_ctrl_c_is_one_line_and_resumable(tmp_path, capsys, monkeypatch):
    def interrupted(cfg, progress=True):
        raise KeyboardInterrupt

    monkeypatch.setattr("imlib.methods.run", interrupted)
    assert train(tmp_path) == 130
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["imlib: interrupted; run the same command again to resume (finished models and records are kept)"]


@pytest.mark.parametrize("write, expected", [
    (lambda p: p.mkdir(parents=True), "a folder, not a run record"),
    (lambda p: p.write_bytes(b"\xff\xfe not utf-8"), "not a valid run record"),
    (lambda p: p.write_text("[1, 2]"), "a run record is a JSON object"),
    (lambda p: p.write_text('{"schema": 2, "run_id": "x"}'), "missing field"),
    (lambda p: p.write_text('{"schema": 2, "x": NaN}'), "NaN is not a number JSON allows"),
])
def test_bad_records_are_named_by_the_table(tmp_path, capsys, write, expected):
    bad = tmp_path / "results" / "study_b" / "x.json"
    bad.parent.mkdir(parents=True, exist_ok=True)
    write(bad)
    assert main(["table", "--results-dir", str(tmp_path / "results")]) == 2
    line = one_line_error(capsys)
    assert str(bad) in line and expected in line


def test_batch_reruns_a_corrupt_record_and_forgets_old_failures(tmp_path):
    over = {**TINY, "work_dir": str(tmp_path / "work"), "results_dir": str(tmp_path / "results")}
    runs = batch.expand_grid("b", "smoke", ["synthetic-lesion"], ["ldt"], [0], over)
    path = records.record_path(tmp_path / "results", runs[0].run_id)
    note = batch.failure_note(runs[0])
    note.parent.mkdir(parents=True)
    note.write_text("an earlier failure")
    path.parent.mkdir(parents=True)
    path.write_text('{"truncated": ')  # a record cut short
    for rerun_older in (False, True):  # neither counts it as done, neither aborts on it
        rep = batch.run_batch(runs, executor="inprocess", progress=False, rerun_older=rerun_older)
        assert rep.ok and rep.done == [runs[0].run_id] and "unreadable" in rep.rerun[runs[0].run_id]
        assert records.load(path).run_id == runs[0].run_id
        assert not note.exists()  # the failure note went with the success
        path.write_text(json.dumps({"schema": 2}))
