"""One Study A run end to end: data, (the plug-in's teachers and masks,) training, the run record.

``run(cfg)`` is what ``imlib train --study a`` and the Study A batch call, under torchrun or not. A host run
without IM is one training. With IM, variants G and M first need their teachers: the host runs of seeds
``seed * n .. seed * n + n - 1`` (the same runs that are the "without IM" results), reused when their
records and weights exist and trained otherwise; then the IM pseudo-labels; then the student run.
"""
from __future__ import annotations

import time
from pathlib import Path

from imlib import provenance
from imlib.config import check_stand_in
from imlib.records import Environment
from imlib.study_a import distributed as ddp
from imlib.study_a.config import VARIANTS, StudyAConfig
from imlib.study_a.data import SplitLists, split_lists
from imlib.study_a.engine import TrainOutcome, train_host
from imlib.study_a.hosts import get_host
from imlib.study_a.plugin import IMLabels, load_teacher, make_im_labels, teacher_network
from imlib.study_a.records import (DataInfo, HostInfo, PluginInfo, Result, ScheduleInfo, StudyARecord, TimingInfo,
                                   load, save)
from imlib.records import RecordError, record_path


def run_dir(cfg: StudyAConfig) -> Path:
    """Where a run keeps its checkpoint, weight files and IM labels (resumed from there)."""
    return Path(cfg.work_dir) / cfg.run_id


def existing_record(cfg: StudyAConfig) -> StudyARecord | None:
    """The run's record when it exists and was made with these settings."""
    path = record_path(cfg.results_dir, cfg.run_id)
    if not path.exists():
        return None
    try:
        rec = load(path)
    except RecordError:
        return None
    return rec if rec.config.semantic() == cfg.semantic() else None


def run(cfg: StudyAConfig, progress: bool = True, world: ddp.World | None = None) -> StudyARecord:
    """Train ``cfg`` (and what it needs first) and write its record (rank 0); every rank returns it."""
    check_stand_in(cfg.preset, cfg.dataset, cfg.allow_stand_in)
    t0 = time.perf_counter()
    world = world or ddp.setup(cfg.device)
    lists = None
    if world.main:  # rank 0 first: it writes the synthetic stand-in when missing, the others then only read it
        lists = split_lists(cfg.dataset, cfg.split, cfg.prepared_dir, cfg.work_dir, cfg.data_seed)
    ddp.barrier(world)
    if lists is None:
        lists = split_lists(cfg.dataset, cfg.split, cfg.prepared_dir, cfg.work_dir, cfg.data_seed)
    labeled = [(img, lab, False) for img, lab in lists.labeled]
    im_labels, plugin = None, None
    if cfg.plugin == "im":
        variant = cfg.variant
        teachers: list[str] = []
        made: IMLabels | None = None
        network = None
        if variant in "GM":
            network = teacher_network(cfg.host)
            nets, teachers = [], []
            for tcfg in cfg.teacher_configs():
                trec = existing_record(tcfg) or run(tcfg, progress, world)
                teachers.append(trec.run_id)
                rule = cfg.plugin_options["teacher_checkpoint"]
                weights = run_dir(tcfg) / ("best.pt" if rule == "best" else f"last-{network}.pt")
                nets.append(load_teacher(cfg.host, cfg.resolved("encoder"), weights, lists.num_classes, world.device))
            made = make_im_labels(nets, lists.unlabeled, run_dir(cfg) / "im_labels", lists.num_classes,
                                  cfg.resolved("eval_window"), cfg.resolved("eval_stride"),
                                  cfg.recipe.output_stride, world, amp=cfg.amp)
            del nets
            if variant == "G":
                labeled += [(img, made.paths[img], True) for img in lists.unlabeled]
            else:
                im_labels = made.paths
        plugin = PluginInfo(variant, VARIANTS[variant], dict(cfg.plugin_options), teachers, network,
                            len(made.paths) if made else 0, made.im_fraction if made else None,
                            list(made.im_fraction_range) if made else None,
                            made.class_agreement if made else None)
    outcome = train_host(cfg, lists, labeled, im_labels, world, run_dir(cfg), progress)
    record = make_record(cfg, lists, outcome, plugin, world, time.perf_counter() - t0)
    if world.main:
        save(record, cfg.results_dir)
    ddp.barrier(world)
    return record


def make_record(cfg: StudyAConfig, lists: SplitLists, out: TrainOutcome, plugin: PluginInfo | None,
                world: ddp.World, total_s: float) -> StudyARecord:
    host = get_host(cfg.host)
    reported = host.reported(out.last["scores"])
    last_net = max(reported, key=reported.get)
    s = out.schedule
    trained = s.total_iterations - out.resumed_from_epoch * s.iterations_per_epoch
    recipe = {k: (list(v) if isinstance(v, tuple) else v) for k, v in host.RECIPE.__dict__.items()}
    return StudyARecord(
        run_id=cfg.run_id, created=provenance.now(), config=cfg,
        data=DataInfo(lists.name, lists.synthetic, lists.stands_in_for, cfg.split, len(lists.labeled),
                      len(lists.unlabeled), len(lists.val), dict(lists.provenance)),
        host=HostInfo(host.key, host.name, recipe, dict(cfg.options)),
        plugin=plugin,
        result=Result(out.best["miou"], out.best["epoch"], out.best["network"], out.last["scores"][last_net],
                      last_net, dict(out.last["scores"]), out.per_class_iou),
        schedule=ScheduleInfo(world.size, s.total_batch, s.batch_per_process, s.iterations_per_epoch, s.epochs,
                              s.total_iterations, s.lr, s.lr_rule),
        timing=TimingInfo(total_s, out.train_s, out.eval_s, out.train_s / max(trained, 1), out.resumed_from_epoch),
        environment=Environment.current(world.device, cfg.amp),
        history=out.history)

