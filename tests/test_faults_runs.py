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


def test_a_corrupt_archive_placed_by_hand_does_not_block_the_right_one(tmp_path, capsys):
    """Issue 11 case 6: the checksum of a hand-placed archive is remembered only once it unpacked whole."""
    import zipfile

    dst = tmp_path / "suim"
    dst.mkdir()
    (dst / "train_val.zip").write_bytes(b"not a zip at all")
    with zipfile.ZipFile(dst / "TEST.zip", "w") as z:
        z.writestr("TEST/images/b.jpg", b"y")
    assert main(["download", "suim", "--dst", str(dst)]) == 1
    assert "not a valid zip archive" in capsys.readouterr().out
    assert not (dst / "train_val.zip.sha256").exists()
    with zipfile.ZipFile(dst / "train_val.zip", "w") as z:  # the right file, placed later
        z.writestr("train_val/images/a.jpg", b"x")
    assert main(["download", "suim", "--dst", str(dst)]) == 0
    assert (dst / "train_val" / "images" / "a.jpg").exists() and (dst / "train_val.zip.sha256").exists()


def test_a_run_sets_its_thread_count_whatever_the_machine(tmp_path):
    """Issue 11 case 8: a float sum's order depends on the thread count; a run sets it from its configuration
    (1 by default, the committed records' setting) and records it."""
    torch.set_num_threads(2)
    assert train(tmp_path) == 0
    (path,) = (tmp_path / "results").rglob("*.json")
    rec = records.load(path)
    assert rec.config.cpu_threads == 1 and rec.environment.device.threads == 1 and torch.get_num_threads() == 1


def test_runs_with_other_settings_never_share_a_record_or_a_table_cell(tmp_path, capsys):
    """Issue 11 case 4: a run's identity includes every semantic setting (a variant hash in its record path),
    train says why it does not run again, and the table keeps variants apart instead of averaging them."""
    assert train(tmp_path) == 0
    assert train(tmp_path, sets={"lr": 1e-3}) == 0  # another setting: another record, not "exists"
    paths = sorted((tmp_path / "results").rglob("*.json"))
    assert len(paths) == 2
    capsys.readouterr()
    assert train(tmp_path, sets={"lr": 1e-3}) == 0
    assert "exists, made with these settings; --force to run again" in capsys.readouterr().out
    from imlib import tables

    comp = tables.study_b_comparison(records.load_all(tmp_path / "results"))
    ldt = comp[(comp.method == "ldt") & (comp.paper_dataset == "isic2018")]
    assert len(ldt) == 2 and set(ldt.seeds) == {1}  # two cells of one seed each, not one of two seeds
    assert any("lr=0.001" in v for v in ldt.variant)
    wide = tables.format_study_b(comp)
    assert sum("lr=0.001" in c[1] for c in wide.columns) == 1


def test_batch_reruns_a_record_made_with_other_settings(tmp_path):
    over = {**TINY, "work_dir": str(tmp_path / "work"), "results_dir": str(tmp_path / "results")}
    runs = batch.expand_grid("b", "smoke", ["synthetic-lesion"], ["ldt"], [0], over)
    assert batch.run_batch(runs, executor="inprocess", progress=False).ok
    path = records.record_path(tmp_path / "results", runs[0].run_id)
    raw = json.loads(path.read_text())
    raw["config"]["epochs"] = 5  # as if the record had been made with other settings (e.g. an older preset)
    path.write_text(json.dumps(raw))
    rep = batch.run_batch(runs, executor="inprocess", progress=False)
    assert rep.done == [runs[0].run_id] and "made with other settings (epochs: 5 there, 2 here)" in rep.rerun[runs[0].run_id]


def test_guards_that_hold_already_every_checkpoint_loads_weights_only_and_no_shell_strings():
    """Regression guards from the top of issue 11: checkpoints never unpickle arbitrary objects, and no command
    line is built as a shell string."""
    import re
    from pathlib import Path

    sources = {p: p.read_text() for p in (Path(__file__).resolve().parent.parent / "imlib").rglob("*.py")}
    loads = [(p.name, m.group(0)) for p, text in sources.items() for m in re.finditer(r"torch\.load\([^)]*\)", text)]
    assert loads and all("weights_only=True" in call for _, call in loads), loads
    assert not [p.name for p, text in sources.items() if "shell=True" in text or "os.system(" in text]


def test_ctrl_c_during_a_parallel_batch_is_one_line_and_the_batch_resumes(tmp_path):
    """Ctrl-C reaches the whole process group: the workers leave it to the main process, which stops them and
    prints one line; running the same command again finishes the batch."""
    import os
    import signal
    import subprocess
    import sys
    import time

    sets = {**TINY, "epochs": 40, "steps_per_epoch": 10,  # long enough to be interrupted mid-training
            "checkpoint_seconds": 0}  # a checkpoint after every epoch: the sign that training has started
    cmd = [sys.executable, "-m", "imlib.cli", "batch", "--executor", "inprocess", "--jobs", "2", "--quiet",
           "--datasets", "synthetic-lesion", "--methods", "ldt", "fdt", "--results-dir", str(tmp_path / "results"),
           "--work-dir", str(tmp_path / "work"), "--set", *[f"{k}={v}" for k, v in sets.items()]]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    # as from a terminal: SIGINT at its default (a shell's background job, e.g. in CI, would inherit it ignored)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 120
    while not list(tmp_path.rglob("*.partial.pt")) and time.time() < deadline:  # the workers are training
        time.sleep(0.05)
    assert proc.poll() is None, "the batch finished before it could be interrupted; make its runs longer"
    os.killpg(proc.pid, signal.SIGINT)  # as a terminal's Ctrl-C: the whole process group
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1].startswith("imlib: interrupted;") and "Traceback" not in err, err
    assert not list((tmp_path / "results").rglob("*.json")) if (tmp_path / "results").exists() else True
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0 and "2 run" in done.stdout, done.stderr


def test_paper_preset_on_a_stand_in_is_refused_unless_asked(tmp_path, capsys, monkeypatch):
    """Hours of GPU time on made-up images would look like the paper's protocol: refused before anything
    trains, in train and batch alike, with the way out named; --stand-in allows it."""
    base = ["--dataset", "synthetic-lesion", "--method", "ldt", "--preset", "paper", "--quiet",
            "--results-dir", str(tmp_path / "results"), "--work-dir", str(tmp_path / "work")]
    assert main(["train", *base]) == 2
    line = one_line_error(capsys)
    assert "synthetic stand-in 'synthetic-lesion'" in line and "--stand-in" in line and "imlib download" in line
    assert main(["batch", "--study", "b", "--preset", "paper", "--datasets", "synthetic-lesion", "--methods", "ldt",
                 "--results-dir", str(tmp_path / "results"), "--work-dir", str(tmp_path / "work"), "--quiet"]) == 2
    assert "--stand-in" in one_line_error(capsys)
    assert main(["train", "--study", "a", "--dataset", "synthetic-cityscapes", "--method", "supervised", *base[4:]]) == 2
    assert "synthetic stand-in" in one_line_error(capsys)
    assert not (tmp_path / "work").exists()  # nothing trained
    from imlib import methods  # asked for explicitly: the run starts (stopped at once here)
    called = []
    monkeypatch.setattr(methods, "Run", lambda *a, **k: called.append(a) or (_ for _ in ()).throw(KeyboardInterrupt))
    main(["train", *base, "--stand-in"])  # the CLI turns the interrupt into its one line
    assert called and called[0][0].allow_stand_in


def test_an_unprepared_paper_dataset_points_to_download_and_prepare(tmp_path, capsys):
    assert main(["train", "--dataset", "isic2018", "--method", "ldt", "--quiet", "--set",
                 f"prepared_dir={tmp_path / 'prepared'}", "--work-dir", str(tmp_path / "work")]) == 2
    line = one_line_error(capsys)
    assert "'isic2018' is not prepared" in line
    assert "imlib download isic2018" in line and "imlib prepare isic2018 --src data/raw/isic2018" in line
