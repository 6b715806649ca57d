"""No training step makes the host wait for the device, beyond each method's stated budget.

Counted on the CPU with :class:`imlib.host_syncs.HostSyncCounter` (what would be a CUDA host sync: reading a
value back, a boolean-mask index, a blocking copy). Budgets: 0 for every method whose algorithm has fixed
shapes; iMAS 1 (its CutMix trigger decides which images the student's forward, and so BatchNorm, sees);
U2PL 4 per class (its contrastive sampling draws from sets whose size depends on the data).
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from imlib.data import SegData
from imlib.data.task import Task
from imlib.engine import BatchStream, Supervised
from imlib.host_syncs import count_host_syncs
from imlib.losses import task_loss
from imlib.methods.registry import methods
from imlib.models.unet import LightUNet
from imlib.semi.pseudo import class_groups

TASKS = {"binary": Task("binary", 3, 1, ("fg",)),
         "multiclass": Task("multiclass", 3, 4, ("IM", "a", "b", "c")),
         "multilabel": Task("multilabel", 1, 3, ("alive", "dead", "position"), position_channel=2, alive_channel=0,
                            dead_channel=1)}
SMALL_U2PL = {"sup_only_fraction": 0.0, "queries": 8, "negatives": 4, "bank_size": 64, "bank_size_background": 64}


def test_the_counter_sees_what_would_wait_for_a_gpu_and_nothing_else():
    x = torch.randn(8)
    with count_host_syncs() as c:
        y = (x * 2).exp().sum(0)  # device work only
        torch.where(x > 0, x, y)
        x[torch.tensor([1, 2])]  # integer indices: fixed shape
    assert c.total == 0
    with count_host_syncs() as c:
        float(y)
        if (x > 0).any():
            pass
        x[x > 0]
        x.nonzero()
        torch.arange(3).to("cpu")  # a blocking host-to-device copy on a GPU
    assert c.counts == {"__float__": 1, "__bool__": 1, "__getitem__[bool]": 1, "nonzero": 1,
                        "to (unpinned, blocking)": 1}
    assert any("test_host_syncs.py" in place for place in c.places)


def test_batch_indices_reach_the_device_without_a_blocking_copy():
    stream = BatchStream(10, seed=0)
    with count_host_syncs() as c:
        idx = stream.next(4, torch.device("cpu"))
    assert c.total == 0 and idx.shape == (4,)


def test_task_loss_is_branch_free_and_zero_when_everything_is_ignored():
    task = TASKS["multiclass"]
    logits = torch.randn(2, 4, 8, 8, requires_grad=True)
    labels = torch.full((2, 1, 8, 8), task.ignore_index, dtype=torch.uint8)
    with count_host_syncs() as c:
        loss = task_loss(logits, labels, task)
    loss.backward()
    assert c.total == 0 and float(loss.detach()) == 0.0 and torch.isfinite(logits.grad).all()


def _objectives(task: Task, data: SegData):
    yield "supervised", Supervised(data.subset(torch.arange(8)), task, 4)
    for m in methods(kind="semi-supervised"):
        yield m.key, m.objective(data.subset(torch.arange(8)), data.images[8:], task, 4,
                                 SMALL_U2PL if m.key == "u2pl" else {})


@pytest.mark.parametrize("task_name", list(TASKS))
def test_study_b_steps_stay_within_their_sync_budget(task_name):
    task = TASKS[task_name]
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (16, task.in_channels, 16, 16), dtype=torch.uint8, generator=g)
    high = task.num_outputs if task.kind == "multiclass" else 2
    labels = torch.randint(0, high, (16, 1 if task.kind == "multiclass" else task.num_outputs, 16, 16),
                           dtype=torch.uint8, generator=g)
    classes = sum(g.shape[1] for g in class_groups(torch.rand(1, task.num_outputs, 1, 1), task))
    budget = {"imas": 1, "u2pl": 4 * classes}
    for key, objective in _objectives(task, SegData(images, labels)):
        torch.manual_seed(0)
        model = LightUNet(task.in_channels, task.num_outputs, alpha=0.25)
        objective.bind(model, torch.device("cpu"), 0)
        opt = torch.optim.AdamW(list(model.parameters()) + objective.parameters(), lr=1e-3)
        for step in range(2):  # the second step is counted (the first copies constants to the device once)
            with count_host_syncs() as c:
                loss, _ = objective.loss(model, step, 100)
            opt.zero_grad()
            loss.backward()
            opt.step()
            with c:
                objective.after_step(model, step)
        assert c.total <= budget.get(key, 0), (key, dict(c.places))


def test_study_a_steps_stay_within_their_sync_budget():
    sys.path.insert(0, str(Path(__file__).parent))
    from test_study_a_hosts import HOSTS, make_host, pattern, step, unlabeled_batch

    from imlib.study_a.batches import IGNORE, LabeledBatch

    image, label = pattern(2, 0)
    label[:, -2:] = IGNORE
    batches = (LabeledBatch(image, label), unlabeled_batch(1), unlabeled_batch(2))
    budget = {"imas": 1}  # U2PL (not counted): its contrast samples per class from data-sized sets
    for key, cls in HOSTS.items():
        if key == "u2pl":
            continue
        for variant in ("none", "O") if cls.online_im else ("none",):
            host = make_host(key, variant)
            host.net.train()
            for it in range(2):
                with count_host_syncs() as c:
                    step(host, batches, it)
                    host.after_step(it)
            assert c.total <= budget.get(key, 0), (key, variant, dict(c.places))
