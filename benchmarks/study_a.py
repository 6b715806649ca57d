"""Study A throughput probe: each host's training step and one evaluation window, fp32 and bf16.

    .venv/bin/python benchmarks/study_a.py                      # CPU: paper networks at a 128-px crop (ViT: 126), batch 2
    .venv/bin/python benchmarks/study_a.py --device cuda        # GPU: each host's paper crop and per-GPU batch

Random tensors stand in for Cityscapes (the step's cost does not depend on the pixels). For every host it
times ``--steps`` training steps (after warm-up) at the host's per-GPU batch (recipe total batch / GPUs) and
crop, and one sliding-window forward at the evaluation window of every network the host evaluates (student
and EMA teacher; SegKC's junior and senior), records the peak GPU memory, and writes
``benchmarks/results/study_a-<device>.json``; :func:`imlib.study_a.costs.cost_table` turns it into GPU-hours
per cell (the book's *Running Study A* page reads the committed files).
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch

from imlib import provenance
from imlib.engine import autocast, pick_device
from imlib.methods.options import resolve_options
from imlib.methods.registry import methods
from imlib.study_a.batches import LabeledBatch, UnlabeledBatch, normalize
from imlib.study_a.engine import make_optimizer

OUT = Path(__file__).parent / "results"


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def probe_host(spec, device: torch.device, crop: int | None, batch: int | None, steps: int, bf16: bool) -> dict:
    host_cls = spec.objective
    recipe = host_cls.RECIPE
    crop = (crop or recipe.crop) // recipe.output_stride * recipe.output_stride  # DINOv2: 128 -> 126
    per_gpu = batch or recipe.total_batch // recipe.gpus
    net = host_cls.build_net(recipe.encoder, 19).to(device)
    gen = torch.Generator(device=device).manual_seed(0)
    host = host_cls(net, 19, resolve_options(spec.key, host_cls.OPTIONS, {}), device, gen,
                    min(recipe.ohem_min_kept, per_gpu * crop * crop), steps + 3)
    groups = (net.param_groups(recipe.lr, recipe.head_lr_multiplier, recipe.weight_decay)
              + host.extra_param_groups(recipe.lr, recipe.head_lr_multiplier, recipe.weight_decay))
    opt = make_optimizer(groups, recipe, recipe.lr)

    def batches():
        img = lambda: torch.randint(0, 256, (per_gpu, 3, crop, crop), dtype=torch.uint8, device=device)  # noqa: E731
        lab = LabeledBatch(img(), torch.randint(0, 19, (per_gpu, crop, crop), device=device))
        unl = UnlabeledBatch(img(), torch.zeros(per_gpu, crop, crop, dtype=torch.bool, device=device),
                             torch.zeros(per_gpu, crop, crop, dtype=torch.bool, device=device))
        return lab, unl, UnlabeledBatch(img(), unl.ignore, unl.im_mask)

    data = batches()

    def step(i: int) -> None:
        lab, unl, partner = data
        with autocast(device, bf16):
            loss, _ = host.loss(lab, unl if host_cls.uses_unlabeled else None,
                                partner if host_cls.partner_batch else None, i)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        host.after_step(i)

    net.train()
    for i in range(2):
        step(i)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times = []
    for i in range(steps):
        sync(device)
        t = time.perf_counter()
        step(i + 2)
        sync(device)
        times.append(time.perf_counter() - t)
    window = min(recipe.eval_window, crop) if device.type == "cpu" else recipe.eval_window
    evaluated = list(host.eval_models().values())  # every network the engine evaluates each epoch
    x = normalize(torch.randint(0, 256, (1, 3, window, window), dtype=torch.uint8, device=device))
    for m in evaluated:
        m.eval()
    win = []
    with torch.no_grad(), autocast(device, bf16):
        for _ in range(3):
            sync(device)
            t = time.perf_counter()
            for m in evaluated:
                m(x).softmax(1)
            sync(device)
            win.append(time.perf_counter() - t)
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None
    return {"host": spec.key, "precision": "bf16" if bf16 else "fp32", "crop": crop, "batch_per_gpu": per_gpu,
            "window": window, "steps": steps, "s_per_iteration": statistics.median(times),
            "s_per_window": statistics.median(win), "peak_memory_gib": peak}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--steps", type=int, default=None, help="timed steps per host (default: GPU 20, CPU 2)")
    ap.add_argument("--crop", type=int, default=None, help="default: the host's paper crop on a GPU, 128 on a CPU")
    ap.add_argument("--batch", type=int, default=None, help="per-GPU batch (default: the host's; CPU 2, the least train-mode BatchNorm takes)")
    ap.add_argument("--hosts", nargs="+", default=None)
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    device = pick_device(a.device)
    cpu = device.type == "cpu"
    steps = a.steps or (2 if cpu else 20)
    crop, batch = (a.crop or 128, a.batch or 2) if cpu else (a.crop, a.batch)
    precisions = [False] if cpu else [False, True]  # bf16 autocast is CUDA only here
    torch.backends.cudnn.benchmark = True
    results = []
    for spec in methods(study="a", kind="study-a-host"):
        if a.hosts and spec.key not in a.hosts:
            continue
        for bf16 in precisions:
            r = probe_host(spec, device, crop, batch, steps, bf16)
            results.append(r)
            print(f"{spec.name:12s} {r['precision']} crop {r['crop']} batch {r['batch_per_gpu']}: "
                  f"{r['s_per_iteration']:.3f} s/iteration, window {r['s_per_window'] * 1000:.1f} ms, "
                  f"peak {r['peak_memory_gib'] or 0:.1f} GiB", flush=True)
            if device.type == "cuda":
                torch.cuda.empty_cache()
    dev = provenance.device_description(device)
    name = "cpu" if cpu else (dev.get("name") or "cuda").replace(" ", "-")
    out = Path(a.out or OUT / f"study_a-{name}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    for r in results:
        r["device"] = f"{dev['type']} ({dev.get('name')})"
    out.write_text(json.dumps({"commit": provenance.git_commit(), "device": dev, "python": platform.python_version(),
                               "torch": torch.__version__, "scale": "paper crop and per-GPU batch" if not cpu else
                               f"CPU: crop {crop}, batch {batch} (not the paper's scale)", "results": results},
                              indent=1) + "\n")
    print(f"-> {out}")


if __name__ == "__main__":
    main()
