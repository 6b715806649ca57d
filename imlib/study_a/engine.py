"""The Study A training engine: one host run of one large network, as the hosts' official scripts train it.

What it shares with the Study B engine is imported from there (device choice, bf16 autocast, atomic
checkpoints, the divergence error); what differs is the protocol of the hosts (their official Cityscapes
recipes, :mod:`imlib.study_a.recipe`):

* the host's optimiser (SGD momentum 0.9 for the CNN hosts, AdamW betas 0.9/0.999 for the DINOv2 hosts),
  per-iteration poly LR (power 0.9) with the backbone/head LR groups of the host; the LR is scaled linearly
  when the total batch differs from the host's (as the hosts' READMEs advise: their LR is tied to the total
  batch), and the record says so;
* an epoch is one pass over the unlabeled list (Supervised: over its labeled list); the labeled stream is
  drawn independently (:func:`imlib.study_a.data.epoch_order`), the unlabeled list is sharded
  over the processes as DistributedSampler does;
* evaluation every ``eval_every`` epochs and at the end, by sliding window on the whole validation set, of
  every network the host has (student, and its EMA teacher): the best (what the hosts report) and the last
  are both recorded (the hosts' best-epoch numbers are picked on the validation set, which is also
  Cityscapes' test set, so they are optimistic);
* a checkpoint at the end of every epoch (rank 0, atomic): a rerun of the same configuration resumes after
  the last finished epoch with the same data order and random draws.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from imlib.engine import DivergenceError, atomic_save, autocast, deterministic_kernels, make_scaler, optimizer_step
from imlib.study_a import distributed as ddp
from imlib.study_a.config import StudyAConfig
from imlib.study_a.data import (EvalPairs, SplitLists, TrainPairs, UnlabeledImages, collate_labeled,
                                collate_unlabeled, epoch_order)
from imlib.study_a.evaluation import confusion, miou, per_class_iou
from imlib.study_a.hosts import get_host

POLY_POWER = 0.9
MOMENTUM = 0.9  # SGD, every CNN host
BETAS = (0.9, 0.999)  # AdamW, UniMatch V2 (unimatch_v2.py)
CHECKPOINT_FORMAT = 1


def poly_lr(base: float, iteration: int, total: int, power: float = POLY_POWER) -> float:
    """The hosts' per-iteration schedule: base x (1 - t / T) ^ 0.9."""
    return base * (1 - iteration / total) ** power


@dataclass
class Schedule:
    """How many steps of how many images, and at which LR (with the linear-scaling statement)."""

    batch_per_process: int
    iterations_per_epoch: int
    epochs: int
    lr: float
    host_lr: float
    host_total_batch: int
    total_batch: int

    @property
    def total_iterations(self) -> int:
        return self.iterations_per_epoch * self.epochs

    @property
    def lr_rule(self) -> str:
        if self.lr == self.host_lr * self.total_batch / self.host_total_batch:
            if self.total_batch == self.host_total_batch:
                return f"the host's LR {self.host_lr:g} for its total batch {self.host_total_batch}"
            return (f"linear scaling: {self.host_lr:g} x {self.total_batch} / {self.host_total_batch} "
                    f"(total batch {self.total_batch} instead of the host's {self.host_total_batch})")
        return f"set by hand to {self.lr:g} (the host's: {self.host_lr:g} for a total batch of {self.host_total_batch})"


def make_schedule(cfg: StudyAConfig, n_labeled: int, n_unlabeled: int, world_size: int) -> Schedule:
    recipe, host = cfg.recipe, get_host(cfg.host)
    total = cfg.resolved("total_batch")
    if total % world_size:
        raise ValueError(f"total_batch {total} is not divisible by the {world_size} processes")
    per = total // world_size
    walk = n_unlabeled if host.uses_unlabeled else n_labeled  # an epoch = one pass over this list
    iters = math.ceil(walk / world_size) // per
    if cfg.max_iterations_per_epoch is not None:
        iters = min(iters, cfg.max_iterations_per_epoch)
    if iters < 1:
        raise ValueError(f"an epoch of {walk} images over {world_size} processes gives no step of {per} images")
    lr = cfg.lr if cfg.lr is not None else recipe.lr * total / recipe.total_batch
    return Schedule(per, iters, cfg.resolved("epochs"), lr, recipe.lr, recipe.total_batch, total)


def make_optimizer(groups: list[dict], recipe, lr: float) -> torch.optim.Optimizer:
    """The host's optimiser over its parameter groups (each group's ``lr`` already set)."""
    if recipe.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=MOMENTUM, weight_decay=recipe.weight_decay)
    if recipe.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=lr, betas=BETAS, weight_decay=recipe.weight_decay)
    raise ValueError(f"unknown optimiser {recipe.optimizer!r} in a host recipe (sgd or adamw)")


@dataclass
class TrainOutcome:
    """What :func:`train_host` returns: the history, the best and the last evaluation, and the weight files."""

    history: list[dict[str, Any]]  # one entry per epoch: mean loss parts, LR, seconds, and the evaluation if any
    best: dict[str, Any]  # {"miou", "epoch", "network"}: the best evaluation over epochs and networks
    last: dict[str, Any]  # {"epoch", "scores": {network: miou}}: the final evaluation
    per_class_iou: dict[str, list[float | None]]  # per network, at the final evaluation
    schedule: Schedule
    networks: dict[str, Path]  # "last-<network>" / "best": weight files (the plug-in's teachers read them)
    train_s: float
    eval_s: float
    resumed_from_epoch: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def _loader(dataset, indices: list[int], batch: int, collate, workers: int):
    return torch.utils.data.DataLoader(dataset, batch_size=batch, sampler=indices, collate_fn=collate,
                                       num_workers=workers, drop_last=True, pin_memory=False,
                                       persistent_workers=False)


def _seed_epoch(cfg: StudyAConfig, epoch: int, rank: int, gen: torch.Generator) -> None:
    """The host's generator (views, CutMix, feature dropout) and the global RNG (dropout inside the networks)
    from (seed, epoch, rank): a resumed epoch draws exactly what the uninterrupted run drew, on every rank."""
    seed = (cfg.seed * 1_000_003 + epoch * 1009 + rank) % 2**63
    torch.manual_seed(seed)
    gen.manual_seed(seed)


def evaluate_networks(networks: dict[str, nn.Module], val: EvalPairs, num_classes: int, cfg: StudyAConfig,
                      world: ddp.World, multiple: int) -> dict[str, torch.Tensor]:
    """Confusion matrices of every network over the whole validation set (sharded, all-reduced)."""
    indices = ddp.shard(list(range(len(val))), world)
    window, stride = cfg.resolved("eval_window"), cfg.resolved("eval_stride")
    return {name: confusion(net, val, num_classes, window, stride, world.device, amp=cfg.amp, multiple=multiple,
                            indices=indices) for name, net in networks.items()}


def train_host(cfg: StudyAConfig, lists: SplitLists, labeled_items: list[tuple[Path, Path, bool]],
               im_labels: dict[Path, Path] | None, world: ddp.World, out_dir: Path,
               progress: bool = True) -> TrainOutcome:
    """Train one host run; checkpoints and weight files go to ``out_dir`` (resumed when present)."""
    torch.set_float32_matmul_precision("high")
    deterministic_kernels(world.device)
    host_cls, recipe = get_host(cfg.host), cfg.recipe
    crop = cfg.resolved("crop")
    blackout = cfg.plugin_options.get("blackout", "none") if cfg.plugin == "im" else "none"
    labeled = TrainPairs(labeled_items, crop=crop, blackout=blackout, seed=cfg.seed)
    unlabeled = UnlabeledImages(lists.unlabeled, crop=crop, im_labels=im_labels, seed=cfg.seed)
    val = EvalPairs(lists.val)
    sched = make_schedule(cfg, len(labeled), len(unlabeled), world.size)

    torch.manual_seed(cfg.seed)
    net = host_cls.build_net(cfg.resolved("encoder"), lists.num_classes)
    if cfg.weights:
        from imlib.study_a.weights import load_backbone

        load_backbone(net, cfg.weights)
    if world.distributed and world.device.type == "cuda":
        net = nn.SyncBatchNorm.convert_sync_batchnorm(net)
    net.to(world.device)
    gen = torch.Generator(device=world.device)
    host = host_cls(net, lists.num_classes, cfg.options, world.device, gen, cfg.resolved("ohem_min_kept"),
                    sched.total_iterations, variant=cfg.variant if cfg.plugin == "im" else "none")
    if world.distributed:
        def wrap(module: nn.Module) -> nn.Module:
            return nn.parallel.DistributedDataParallel(
                module, device_ids=[world.local_rank] if world.device.type == "cuda" else None)

        host.model = wrap(net)
        host.distribute(wrap)
    groups = (net.param_groups(sched.lr, recipe.head_lr_multiplier, recipe.weight_decay)
              + host.extra_param_groups(sched.lr, recipe.head_lr_multiplier, recipe.weight_decay))
    for g in groups:
        g["base_lr"] = g["lr"]
    optimizer = make_optimizer(groups, recipe, sched.lr)
    scaler = make_scaler(world.device, cfg.amp)

    out_dir.mkdir(parents=True, exist_ok=True)
    ckpt_path = out_dir / "checkpoint.pt"
    history: list[dict[str, Any]] = []
    best: dict[str, Any] = {"miou": -1.0, "epoch": -1, "network": None}
    start_epoch, train_s, eval_s, last_eval = 0, 0.0, 0.0, None
    if ddp.broadcast_flag(world, ckpt_path.exists()):
        state = torch.load(ckpt_path, map_location=world.device, weights_only=True)
        if state.get("format") != CHECKPOINT_FORMAT or state["config"] != cfg.semantic():
            raise ValueError(f"{ckpt_path}: a checkpoint of other settings; delete the folder to start afresh")
        net.load_state_dict(state["net"])
        host.load_state_dict(state["host"])
        optimizer.load_state_dict(state["optimizer"])
        start_epoch, history, best = state["epoch"] + 1, state["history"], state["best"]
        train_s, eval_s, last_eval = state["train_s"], state["eval_s"], state.get("last_eval")
    resumed_from = start_epoch

    multiple = recipe.output_stride
    for epoch in range(start_epoch, sched.epochs):
        _seed_epoch(cfg, epoch, world.rank, gen)
        labeled.set_epoch(epoch)
        unlabeled.set_epoch(epoch)
        per, iters = sched.batch_per_process, sched.iterations_per_epoch
        lab_order = ddp.shard(epoch_order(len(labeled), iters * per * world.size, cfg.seed, epoch, "labeled").tolist(),
                              world)[: iters * per]
        streams = [_loader(labeled, lab_order, per, collate_labeled, cfg.workers)]
        if host_cls.uses_unlabeled:
            for name in ("unlabeled", "partner")[: 1 + host_cls.partner_batch]:
                order = ddp.shard(epoch_order(len(unlabeled), len(unlabeled), cfg.seed, epoch, name).tolist(),
                                  world)[: iters * per]
                streams.append(_loader(unlabeled, order, per, collate_unlabeled, cfg.workers))
        host.net.train()
        t0 = time.perf_counter()
        sums: dict[str, Any] = {}
        bar = tqdm(zip(*streams), total=iters, desc=f"{cfg.method_name} epoch {epoch + 1}/{sched.epochs}",
                   disable=not (progress and world.main), leave=False)
        for i, batches in enumerate(bar):
            it = epoch * iters + i
            for g in optimizer.param_groups:
                g["lr"] = poly_lr(g["base_lr"], it, sched.total_iterations)
            lab = batches[0].to(world.device)
            unl = batches[1].to(world.device) if len(batches) > 1 else None
            partner = batches[2].to(world.device) if len(batches) > 2 else None
            with autocast(world.device, cfg.amp):
                loss, parts = host.loss(lab, unl, partner, it)
            optimizer_step(loss, optimizer, scaler)
            host.after_step(it)
            for k, v in {"loss": loss, **parts}.items():  # summed on the device: no host sync per step
                sums[k] = sums.get(k, 0.0) + (v.detach().float() if torch.is_tensor(v) else v)
        sums = {k: float(v) for k, v in sums.items()}
        if not math.isfinite(sums["loss"]):
            raise DivergenceError(f"{cfg.run_id}: the loss became {sums['loss']} in epoch {epoch + 1}; "
                                  "no checkpoint of it is kept")
        train_s += time.perf_counter() - t0
        entry: dict[str, Any] = {"epoch": epoch, "iterations": (epoch + 1) * iters,
                                 "lr": optimizer.param_groups[0]["lr"], "train_s": time.perf_counter() - t0,
                                 **{k: v / iters for k, v in sums.items()}}
        if (epoch + 1) % cfg.eval_every == 0 or epoch + 1 == sched.epochs:
            t1 = time.perf_counter()
            networks = host.eval_models()
            cms = evaluate_networks(networks, val, lists.num_classes, cfg, world, multiple)
            scores = {name: miou(cm) for name, cm in cms.items()}
            entry["miou"] = scores
            eval_s += time.perf_counter() - t1
            reported = host_cls.reported(scores)
            top = max(reported, key=reported.get)
            if scores[top] > best["miou"]:
                best = {"miou": scores[top], "epoch": epoch, "network": top}
                if world.main:
                    atomic_save({"network": top, "state": networks[top].state_dict()}, out_dir / "best.pt")
            last_eval = {"epoch": epoch, "scores": scores,
                         "per_class_iou": {n: per_class_iou(cm) for n, cm in cms.items()}}
            if progress and world.main:
                tqdm.write(f"{cfg.method_name} epoch {epoch + 1}: " +
                           ", ".join(f"{n} mIoU {s:.2f}" for n, s in scores.items()))
        history.append(entry)
        if world.main:
            atomic_save({"format": CHECKPOINT_FORMAT, "config": cfg.semantic(), "epoch": epoch,
                         "net": net.state_dict(), "host": host.state_dict(), "optimizer": optimizer.state_dict(),
                         "history": history, "best": best, "train_s": train_s,
                         "eval_s": eval_s, "last_eval": last_eval}, ckpt_path)
        ddp.barrier(world)

    files = {"best": out_dir / "best.pt"}
    if world.main:
        for name, model in host.eval_models().items():
            files[f"last-{name}"] = out_dir / f"last-{name}.pt"
            atomic_save({"network": name, "state": model.state_dict()}, files[f"last-{name}"])
    else:
        files.update({f"last-{name}": out_dir / f"last-{name}.pt" for name in host.eval_models()})
    ddp.barrier(world)
    return TrainOutcome(history, best, {"epoch": last_eval["epoch"], "scores": last_eval["scores"]},
                        last_eval["per_class_iou"], sched, files, train_s, eval_s, resumed_from)
