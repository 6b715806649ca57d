import pytest
import torch

from imlib.data import SegData
from imlib.data.synthetic import generate
from imlib.data.task import Task
from imlib.engine import Supervised, TrainSettings, train_model
from imlib.losses import task_loss
from imlib.models import build_model

TASK = Task("binary", 3, 1, ("lesion",))


@pytest.fixture(scope="module")
def data():
    x, y = generate("synthetic-lesion", 24, 32, seed=0)
    return SegData(x[:16], y[:16]), SegData(x[16:], y[16:])


def make():
    return build_model(TASK, 0.25, bn_momentum=0.1)


def settings(epochs):
    return TrainSettings(epochs=epochs, batch_size=4, steps_per_epoch=3, progress=False)


def train(data, epochs, seed, checkpoint=None):
    train_set, val = data
    return train_model(make, Supervised(train_set, TASK, 4), val, TASK, settings(epochs), seed=seed,
                       device=torch.device("cpu"), checkpoint=checkpoint)


def test_training_lowers_the_loss(data):
    res = train(data, 6, seed=0)
    losses = [h["loss"] for h in res.history]
    assert losses[-1] < losses[0]
    assert 0 <= res.best_epoch < 6 and len(res.history) == 6


def test_same_seed_same_weights_on_cpu(data):
    a = train(data, 2, seed=1)
    b = train(data, 2, seed=1)
    c = train(data, 2, seed=2)
    assert all(torch.equal(a.state[k], b.state[k]) for k in a.state)
    assert not all(torch.equal(a.state[k], c.state[k]) for k in a.state)


def test_resume_after_interruption_matches_uninterrupted(data, tmp_path):
    full = train(data, 4, seed=3)
    ck = tmp_path / "m.partial.pt"
    train(data, 2, seed=3, checkpoint=ck)  # "interrupted"
    resumed = train(data, 4, seed=3, checkpoint=ck)
    assert [h["epoch"] for h in resumed.history] == [0, 1, 2, 3]
    assert resumed.best_epoch == full.best_epoch
    assert all(torch.equal(full.state[k], resumed.state[k]) for k in full.state)


def test_empty_sets_are_rejected(data):
    empty = SegData(data[0].images[:0], data[0].labels[:0])
    with pytest.raises(ValueError, match="training set is empty"):
        train((empty, data[1]), 1, seed=0)
    with pytest.raises(ValueError, match="validation set is empty"):
        train((data[0], empty), 1, seed=0)


def test_losses_ignore_index(multiclass_task, multilabel_task):
    logits = torch.randn(1, 4, 2, 2)
    lab = torch.full((1, 1, 2, 2), 255, dtype=torch.uint8)
    assert task_loss(logits, lab, multiclass_task) == 0
    lab[0, 0, 0, 0] = 2
    assert task_loss(logits, lab, multiclass_task) > 0
    ml = torch.full((1, 3, 2, 2), 255, dtype=torch.uint8)
    assert task_loss(torch.randn(1, 3, 2, 2), ml, multilabel_task) == 0
    # the position channel's target is scaled by 3: a perfect 1.0 prediction still has loss (3 - 1)^2
    ml = torch.zeros(1, 3, 1, 1, dtype=torch.uint8)
    ml[0, 2] = 1
    big = torch.tensor([-30.0, -30.0, 30.0]).view(1, 3, 1, 1)
    assert task_loss(big, ml, multilabel_task).item() == pytest.approx(4 / 3, rel=1e-4)


class _WithTeacher(Supervised):
    """A supervised objective that also offers a fixed second network for validation, as a mean
    teacher offers its EMA."""

    def __init__(self, train_set, teacher):
        super().__init__(train_set, TASK, 4)
        self.teacher = teacher

    def eval_candidates(self, model):
        return {"student": model, "teacher": self.teacher}


def constant(bias):
    """A network whose head predicts one class everywhere (foreground for a large positive bias)."""
    net = make()
    with torch.no_grad():
        net.head.weight.zero_()
        net.head.bias.fill_(bias)
    return net


def test_the_better_of_student_and_teacher_is_kept_and_named(data):
    """Both networks are validated every epoch; the kept weights are the better one's, and the result
    says which: a teacher predicting foreground everywhere (IoU = the foreground share) beats a student
    stuck at background (IoU 0), a background-only teacher loses to a student that learns."""
    train_set, val = data
    teacher = constant(100.0)
    frozen = TrainSettings(epochs=2, batch_size=4, steps_per_epoch=3, lr=1e-12, progress=False)
    res = train_model(lambda: constant(-100.0), _WithTeacher(train_set, teacher), val, TASK, frozen, seed=5,
                      device=torch.device("cpu"))
    assert res.evaluated == "teacher"
    assert all(torch.equal(res.state[k], v) for k, v in teacher.state_dict().items())
    assert res.history[0]["val_score"] == 0 and res.history[0]["val_score_teacher"] > 0
    res = train_model(make, _WithTeacher(train_set, constant(-100.0)), val, TASK, settings(6), seed=0,
                      device=torch.device("cpu"))
    assert res.evaluated == "student" and res.best_score > 0


def test_cuda_training_asks_cudnn_for_deterministic_kernels(monkeypatch):
    """Setting the flags needs no GPU: a CUDA device turns autotuning off and determinism on."""
    from imlib.engine import deterministic_kernels

    monkeypatch.setattr(torch.backends.cudnn, "deterministic", False)
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", True)
    deterministic_kernels(torch.device("cpu"))
    assert torch.backends.cudnn.benchmark and not torch.backends.cudnn.deterministic
    deterministic_kernels(torch.device("cuda"))
    assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark
