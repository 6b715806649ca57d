"""A set of models trained together (imlib.packed) ends as the same models trained one at a time.

Tolerance: in float64 the members' final weights equal those of separate ``train_model`` runs to 1e-9 (the
packed and plain convolutions sum in different orders; in float32 Adam magnifies that rounding noise on
near-zero gradients, see test_packed_unet.py), and each member picks the same best epoch. Smoke records
made with and without packing therefore agree in their code path, not bit for bit.
"""
from __future__ import annotations

import dataclasses

import pytest
import torch

from imlib.config import PACK_ALL, make_config, resolve_packing
from imlib.data import SegData
from imlib.data.synthetic import generate
from imlib.data.task import Task
from imlib.engine import DivergenceError, Supervised, TrainSettings, train_model
from imlib.methods import run as run_method
from imlib.methods.shared import Run
from imlib.models import build_model
from imlib.packed import train_packed

TASK = Task("binary", 3, 1, ("lesion",))
CPU = torch.device("cpu")
SEEDS = [11, 12, 13]


@pytest.fixture(scope="module")
def data():
    x, y = generate("synthetic-lesion", 28, 32, seed=0)
    return SegData(x[:20], y[:20]), SegData(x[20:], y[20:])


def make64():
    return build_model(TASK, 0.25, bn_momentum=0.1).double()


def settings(epochs, **kw):
    return TrainSettings(epochs=epochs, batch_size=4, steps_per_epoch=3, progress=False, **kw)


def packed(data, epochs, checkpoint=None, lr=3e-3):
    train, val = data
    return train_packed(make64, [Supervised(train, TASK, 4) for _ in SEEDS], val, TASK,
                        settings(epochs, lr=lr), SEEDS, CPU, checkpoint=checkpoint)


def test_packed_members_end_as_separate_runs_in_float64(data):
    train, val = data
    together = packed(data, 4)
    for seed, member in zip(SEEDS, together):
        alone = train_model(make64, Supervised(train, TASK, 4), val, TASK, settings(4), seed, CPU)
        assert member.best_epoch == alone.best_epoch
        assert member.best_score == pytest.approx(alone.best_score, abs=1e-9)
        for key, value in alone.state.items():
            torch.testing.assert_close(member.state[key], value, rtol=0, atol=1e-9, msg=key)
        assert [h["loss"] for h in member.history] == pytest.approx([h["loss"] for h in alone.history], abs=1e-9)
    # the members are different models (own seeds and batch streams)
    assert not torch.equal(together[0].state["head.weight"], together[1].state["head.weight"])


def test_an_interrupted_packed_training_resumes_to_the_same_weights(data, tmp_path):
    full = packed(data, 4)
    ck = tmp_path / "set.partial.pt"
    packed(data, 3, checkpoint=ck)  # "interrupted" after 3 of 4 epochs (its last checkpoint: epoch 1)
    resumed = packed(data, 4, checkpoint=ck)
    for a, b in zip(full, resumed):
        assert a.best_epoch == b.best_epoch and [h["epoch"] for h in b.history] == [0, 1, 2, 3]
        assert all(torch.equal(a.state[k], b.state[k]) for k in a.state)


def test_a_diverging_member_stops_the_set(data):
    with pytest.raises(DivergenceError, match="non-finite"):
        packed(data, 2, lr=1e30)


def test_checkpoints_by_time_are_written_less_often(data, tmp_path):
    train, val = data
    ck = tmp_path / "m.partial.pt"
    train_model(make64, Supervised(train, TASK, 4), val, TASK, settings(3, checkpoint_seconds=3600), 0, CPU,
                checkpoint=ck)
    assert not ck.exists()  # the first epoch ended long before an hour had passed
    train_model(make64, Supervised(train, TASK, 4), val, TASK, settings(3), 0, CPU, checkpoint=ck)
    assert torch.load(ck, weights_only=True)["epoch"] == 1  # every epoch but the last (the result is saved)


def test_packing_policy():
    assert resolve_packing(3, "cpu", 1.0) == 3  # asked for: as asked
    assert resolve_packing(None, "cuda", 1.0) == PACK_ALL
    assert resolve_packing(None, "cpu", 0.5) == PACK_ALL  # measured faster on the CPU (benchmarks/packed.py)
    assert resolve_packing(None, "cpu", 1.0) == 1  # measured slower there
    with pytest.raises(ValueError, match="pack_models"):
        make_config("smoke", pack_models=0)


def test_a_run_trains_its_reference_set_packed_and_reuses_it(tmp_path):
    over = dict(image_size=32, n_train=40, n_val=6, n_test=6, epochs=2, steps_per_epoch=2, batch_size=4,
                n_models=3, alpha=0.25, work_dir=str(tmp_path / "w"), results_dir=str(tmp_path / "r"))
    cfg = make_config("smoke", dataset="synthetic-lesion", method="ldt", **over)
    record = run_method(cfg, progress=False)
    assert record.timing.packed_models == PACK_ALL
    models = record.generations[0].models
    assert len(models) == 3 and not any(m.reused for m in models)
    assert not list((tmp_path / "w").rglob("*.partial.pt"))  # the set's checkpoint is gone once saved
    # one at a time is another training (rounding), so another model key: nothing reused across the two
    one = Run(dataclasses.replace(cfg, pack_models=1), progress=False)
    assert one.pack == 1 and one.model_key("reference", "ldt", 0) != Run(cfg, progress=False).model_key(
        "reference", "ldt", 0)
    again = run_method(cfg, progress=False)
    assert all(m.reused for m in again.generations[0].models)
    assert again.result.test == record.result.test
