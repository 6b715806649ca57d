"""Semi-supervised baselines trained K at a time in lockstep (imlib.lockstep) end as K separate trainings.

Each member runs its own objective (generator, streams, EMA teacher slice, memory bank) and only the network
calls are batched over the members, so in float64 the members' final weights equal those of separate
``train_model`` runs to 1e-9 and each picks the same best epoch and network (see test_packed_training.py for
why float64). A method whose network calls depend on its data is refused by name.
"""
from __future__ import annotations

import dataclasses

import pytest
import torch

from imlib.config import make_config
from imlib.data import SegData
from imlib.data.synthetic import generate
from imlib.data.task import Task
from imlib.engine import TrainSettings, train_model
from imlib.lockstep import LockstepError
from imlib.methods.registry import get_method
from imlib.methods.shared import Run
from imlib.models import build_model
from imlib.packed import packable, train_packed
from imlib.semi.objective import SemiObjective

TASK = Task("binary", 3, 1, ("lesion",))
CPU = torch.device("cpu")
SEEDS = [21, 22]


@pytest.fixture(scope="module")
def data():
    x, y = generate("synthetic-lesion", 36, 32, seed=1)
    return SegData(x[:8], y[:8]), x[8:28], SegData(x[28:], y[28:])  # labeled, unlabeled, val


def make64():
    return build_model(TASK, 0.25, bn_momentum=0.1).double()


def settings():
    return TrainSettings(epochs=2, batch_size=4, steps_per_epoch=3, progress=False)


def objective(method, data):
    labeled, unlabeled, _ = data
    return get_method(method).objective(labeled, unlabeled, TASK, 4, None)


@pytest.mark.parametrize("method", ["fixmatch", "unimatch", "crossmatch", "fpl", "u2pl"])
def test_lockstep_members_end_as_separate_runs_in_float64(method, data):
    val = data[2]
    together = train_packed(make64, [objective(method, data) for _ in SEEDS], val, TASK, settings(), SEEDS, CPU)
    for seed, member in zip(SEEDS, together):
        alone = train_model(make64, objective(method, data), val, TASK, settings(), seed, CPU)
        assert (member.best_epoch, member.evaluated) == (alone.best_epoch, alone.evaluated)
        for key, value in alone.state.items():
            torch.testing.assert_close(member.state[key], value, rtol=0, atol=1e-9, msg=key)
        for h_member, h_alone in zip(member.history, alone.history):
            assert h_member.keys() == h_alone.keys()
            for k in h_alone:
                if k != "seconds":
                    assert h_member[k] == pytest.approx(h_alone[k], abs=1e-9), k
    assert not torch.equal(together[0].state["head.weight"], together[1].state["head.weight"])


def test_an_interrupted_lockstep_training_resumes_to_the_same_weights(data, tmp_path):
    val, ck = data[2], tmp_path / "set.partial.pt"
    s3 = dataclasses.replace(settings(), epochs=3)
    full = train_packed(make64, [objective("fpl", data) for _ in SEEDS], val, TASK, s3, SEEDS, CPU)
    train_packed(make64, [objective("fpl", data) for _ in SEEDS], val, TASK, settings(), SEEDS, CPU, checkpoint=ck)
    resumed = train_packed(make64, [objective("fpl", data) for _ in SEEDS], val, TASK, s3, SEEDS, CPU, checkpoint=ck)
    for a, b in zip(full, resumed):
        assert a.best_epoch == b.best_epoch and all(torch.equal(a.state[k], b.state[k]) for k in a.state)


class _Uneven(SemiObjective):
    """A member whose number of network calls depends on its seed (a data-dependent branch)."""

    def bind(self, model, device, seed):
        super().bind(model, device, seed)
        self.extra = seed % 2

    def loss(self, model, step, total_steps):
        xl, yl = self.labeled_batch()
        out = model(xl)
        if self.extra:
            out = out + model(xl)
        return self.supervised(out, yl), {}


def test_members_whose_network_calls_differ_are_refused_by_name(data):
    labeled, unlabeled, val = data
    with pytest.raises(LockstepError, match="different network calls"):
        train_packed(make64, [_Uneven(labeled, unlabeled, TASK, 4) for _ in SEEDS], val, TASK, settings(), SEEDS, CPU)


def test_which_objectives_train_together(tmp_path):
    net = make64()
    assert not packable(get_method("imas").objective.__new__(get_method("imas").objective), net)  # data-dependent
    assert packable(get_method("fixmatch").objective.__new__(get_method("fixmatch").objective), net)
    over = dict(image_size=32, n_train=40, n_val=6, n_test=6, alpha=0.25, work_dir=str(tmp_path))
    cpu = Run(make_config("smoke", dataset="synthetic-lesion", method="fixmatch", **over), progress=False)
    ssl = cpu.method.objective(cpu.dataset.labeled, cpu.dataset.unlabeled.images, cpu.task, 4, cpu.options)
    assert cpu.set_size(ssl) == 1  # CPU default: a baseline trains alone (threads cost, the step is compute-bound)
    asked = Run(make_config("smoke", dataset="synthetic-lesion", method="fixmatch", pack_models=3, **over),
                progress=False)
    assert asked.set_size(ssl) == 3
    assert asked.model_key("method", "fixmatch", 0, 3) != cpu.model_key("method", "fixmatch", 0, 1)
