"""Runs of several seeds trained together (imlib.methods.run_seeds) end as the runs trained one by one.

Each seed's run keeps its own member seeds, batch streams, generations and records; only its sets of models
train in one packed network with the same sets of the other seeds. In float64 the records' scores and best
epochs are those of separate runs and the weights agree to 1e-9 (see test_packed_training.py for why
float64); a failing seed fails the whole group instead of leaving the others waiting.
"""
from __future__ import annotations

import dataclasses

import pytest
import torch

from imlib.config import make_config
from imlib.methods import generational, run, run_seeds
from imlib.methods.shared import Run
from imlib.models import build_model

TINY = dict(image_size=32, n_train=40, n_val=6, n_test=6, epochs=2, steps_per_epoch=2, batch_size=4,
            n_models=2, n_students=2, generations=1, alpha=0.25)


@pytest.fixture
def float64(monkeypatch):
    monkeypatch.setattr(Run, "build", lambda self: build_model(self.task, self.alpha, self.cfg.bn_momentum).double())


def configs(tmp_path, name, method="im", seeds=(0, 1)):
    return [make_config("smoke", dataset="synthetic-lesion", method=method, seed=s, work_dir=str(tmp_path / name),
                        results_dir=str(tmp_path / name / "results"), **TINY) for s in seeds]


def states(record):
    return [torch.load(m.checkpoint, weights_only=True)["state"] for g in record.generations for m in g.models]


def test_a_seed_group_trains_what_the_seeds_train_alone(tmp_path, float64):
    together = run_seeds(configs(tmp_path, "group"), progress=False)
    for cfg, grouped in zip(configs(tmp_path, "alone"), together):
        alone = run(cfg, progress=False)
        assert grouped.config.seed == cfg.seed and grouped.timing.packed_models == alone.timing.packed_models
        for g_grouped, g_alone in zip(grouped.generations, alone.generations):
            assert [(m.name, m.best_epoch, m.val, m.test) for m in g_grouped.models] == \
                   [(m.name, m.best_epoch, m.val, m.test) for m in g_alone.models]
        for a, b in zip(states(grouped), states(alone)):
            for key in a:
                torch.testing.assert_close(a[key], b[key], rtol=0, atol=1e-9, msg=key)
    assert not torch.equal(states(together[0])[0]["head.weight"], states(together[1])[0]["head.weight"])


def test_runs_that_differ_in_more_than_the_seed_are_refused(tmp_path):
    a, b = configs(tmp_path, "x")
    with pytest.raises(ValueError, match="seed only"):
        run_seeds([a, dataclasses.replace(b, lr=1e-3)])
    with pytest.raises(ValueError, match="distinct seeds"):
        run_seeds([a, a])


def test_a_failing_seed_fails_the_group_instead_of_hanging_it(tmp_path, monkeypatch):
    real = generational.build_pairs

    def fail_for_seed_1(run_, teachers, rule, chunk=64):
        if run_.cfg.seed == 1:
            raise RuntimeError("seed 1 broke")
        return real(run_, teachers, rule, chunk)

    monkeypatch.setattr(generational, "build_pairs", fail_for_seed_1)
    with pytest.raises(RuntimeError, match="seed 1 broke"):
        run_seeds(configs(tmp_path, "fail"))


def test_the_batch_runs_seed_groups_and_their_dependents_reuse_them(tmp_path):
    from imlib import batch, records

    over = {**TINY, "work_dir": str(tmp_path / "w"), "results_dir": str(tmp_path / "r")}
    runs = batch.expand_grid("b", "smoke", ["synthetic-lesion"], ["ldt", "im"], [0, 1], over)
    jobs = batch.seed_jobs(batch.plan(runs))
    by_method = {cfgs[0].method: (cfgs, needs) for cfgs, needs in jobs}
    assert len(jobs) == 2 and [c.seed for c in by_method["ldt"][0]] == [0, 1] == [c.seed for c in by_method["im"][0]]
    assert by_method["im"][1] == {c.run_id for c in runs if c.method == "ldt"}  # the IM group waits for the LDT group
    assert by_method["ldt"][1] == set()
    rep = batch.run_batch(runs, jobs=1, executor="inprocess", progress=False, pack_seeds=True)
    assert rep.ok and sorted(rep.done) == sorted(c.run_id for c in runs)
    for cfg in runs:
        record = records.load(records.record_path(tmp_path / "r", cfg.run_id))
        assert record.config.seed == cfg.seed
        if cfg.method == "im":
            assert all(m.reused for m in record.generations[0].models)  # the LDT group's models
    with pytest.raises(ValueError, match="inprocess"):
        batch.run_batch(runs, executor="notebook", progress=False, pack_seeds=True)
