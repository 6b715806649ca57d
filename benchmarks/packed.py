"""Training throughput of K U-Nets: packed into one grouped network, one after another, and a conventional loop.

    .venv/bin/python benchmarks/packed.py                       # CPU: 64 px, batch 8, K = 1, 2, 5 (under a minute)
    .venv/bin/python benchmarks/packed.py --device cuda --size 256 --batch 32 --models 1 5 10

For each alpha and K it times one training step (forward, the task loss, backward, AdamW) of

* ``packed``: the engine's packed step (:func:`imlib.packed.packed_step`): the K models as one
  :class:`imlib.models.unet.LightUNet` with ``models=K`` (grouped convolutions), each model on its own batch
  stream of images indexed from uint8 tensors on the device;
* ``separate``: the K models one after another, each with the engine's single-model step (the same data path);
* ``conventional``: one model fed by a ``DataLoader`` over the same images with per-sample augmentation
  (flip, rot90, brightness) in worker processes, the usual PyTorch recipe; counted per model and scaled to K.

Images per second count every model's images (K x batch per step). ``vmap`` times the alternative to packing
(the K models' stacked parameters under ``torch.func.vmap``); on a GPU the packed step is also timed with
``torch.compile``, fused AdamW and channels-last (``--variants``), each against the plain packed step. Writes
``results/packed-<device>.json`` with the device, commit and the ratios packed / separate and packed /
conventional.
"""
from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

import torch

from imlib import provenance
from imlib.data import SegData
from imlib.data.task import Task
from imlib.engine import Supervised, autocast, pick_device, training_step
from imlib.losses import task_loss
from imlib.models.unet import LightUNet, pack
from imlib.packed import packed_step as imlib_packed_step
from timing import timed  # benchmarks/timing.py

OUT = Path(__file__).parent / "results"
TASK = Task("binary", 3, 1, ("lesion",))


def make_data(n: int, size: int, device: torch.device):
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8, generator=g)
    labels = torch.randint(0, 2, (n, 1, size, size), dtype=torch.uint8, generator=g)
    return images.to(device), labels.to(device)


def singles(k: int, alpha: float, device: torch.device) -> list[LightUNet]:
    nets = []
    for seed in range(k):
        torch.manual_seed(seed)
        nets.append(LightUNet(3, 1, alpha=alpha).to(device))
    return nets


def adamw(params, fused: bool = False) -> torch.optim.Optimizer:
    return torch.optim.AdamW(params, lr=3e-3, weight_decay=1e-4 / 3e-3, eps=1e-7, **({"fused": True} if fused else {}))


def engine_step(k: int, alpha: float, data, batch: int, device: torch.device, amp: bool, packed: bool = True,
                compiled: bool = False, fused: bool = False, channels_last: bool = False):
    """The engine's own step for K models: packed (``imlib.packed.packed_step``) or one after another
    (``imlib.engine.training_step`` per model), each model on its own batch stream; optionally with
    ``torch.compile``, fused AdamW or channels-last (GPU candidates, each to be kept only if it pays)."""
    train = SegData(*data)
    objectives = [Supervised(train, TASK, batch) for _ in range(k)]
    nets = singles(k, alpha, device)
    for i, (objective, net) in enumerate(zip(objectives, nets)):
        objective.bind(net, device, i)
    models = [pack(nets)] if packed else nets
    if channels_last:
        models = [m.to(memory_format=torch.channels_last) for m in models]
    opts = [adamw(m.parameters(), fused=fused) for m in models]
    forwards = [torch.compile(m) if compiled else m for m in models]

    def step():
        if packed:
            imlib_packed_step(forwards[0], objectives, TASK, opts[0], device, amp)
        else:
            for net, objective, opt in zip(forwards, objectives, opts):
                training_step(net, objective, opt, 0, 1, device, amp)

    return step


def vmap_step(k: int, alpha: float, data, batch: int, device: torch.device, amp: bool):
    """The alternative to grouped packing: the K models' parameters stacked (``torch.func.stack_module_state``)
    and one ``vmap(grad(...))`` over them, train-mode BatchNorm updating each model's own statistics."""
    from torch.func import functional_call, grad, stack_module_state, vmap

    images, labels = data
    nets = singles(k, alpha, device)
    params, buffers = stack_module_state(nets)
    base = nets[0]
    opt = adamw(list(params.values()))
    g = torch.Generator(device=device).manual_seed(0)

    def loss(p, b, x, y):
        with autocast(device, amp):
            return task_loss(functional_call(base, (p, b), (x,)), y, TASK)

    grads = vmap(grad(loss))

    def step():
        idx = torch.randint(0, len(images), (k, batch), generator=g, device=device)
        for name, gradient in grads(params, buffers, images[idx], labels[idx]).items():
            params[name].grad = gradient
        opt.step()

    return step


class Augmented(torch.utils.data.Dataset):
    """Per-sample augmentation on the CPU, as a conventional pipeline does it."""

    def __init__(self, images, labels):
        self.images, self.labels = images.cpu(), labels.cpu()

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        x, y = self.images[i], self.labels[i]
        if torch.rand(()) < 0.5:
            x, y = x.flip(-1), y.flip(-1)
        turns = int(torch.randint(0, 4, ()))
        x, y = x.rot90(turns, (-2, -1)), y.rot90(turns, (-2, -1))
        x = (x.float() + torch.randint(-25, 26, ())).clamp(0, 255).to(torch.uint8)
        return x, y


def conventional_step(alpha: float, data, batch: int, device: torch.device, amp: bool, workers: int):
    net = singles(1, alpha, device)[0]
    opt = adamw(net.parameters())
    loader = torch.utils.data.DataLoader(Augmented(*data), batch_size=batch, shuffle=True, drop_last=True,
                                         num_workers=workers, pin_memory=device.type == "cuda",
                                         persistent_workers=workers > 0)
    it = iter(loader)

    def step():
        nonlocal it
        try:
            x, y = next(it)
        except StopIteration:
            it = iter(loader)
            x, y = next(it)
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        with autocast(device, amp):
            loss = task_loss(net(x), y, TASK)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--size", type=int, default=None, help="image side (default: CPU 64, GPU 256)")
    ap.add_argument("--batch", type=int, default=None, help="images per model per step (default: CPU 8, GPU 32)")
    ap.add_argument("--models", type=int, nargs="+", default=None, help="K values (default: CPU 1 2 5, GPU 1 5 10)")
    ap.add_argument("--alphas", type=float, nargs="+", default=[0.5, 1.0])
    ap.add_argument("--repeats", type=int, default=None)
    ap.add_argument("--workers", type=int, default=2, help="DataLoader workers of the conventional loop")
    ap.add_argument("--variants", nargs="*", default=None, choices=["vmap", "compile", "fused-adamw", "channels-last"],
                    help="also time vmap over stacked parameters instead of packing, and the packed step with these "
                         "(default: all on a GPU, vmap on the CPU)")
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    device = pick_device(a.device)
    cpu = device.type == "cpu"
    size, batch = a.size or (64 if cpu else 256), a.batch or (8 if cpu else 32)
    ks, repeats = a.models or ([1, 2, 5] if cpu else [1, 5, 10]), a.repeats or (5 if cpu else 20)
    amp = not cpu
    a.variants = a.variants if a.variants is not None else (
        ["vmap"] if cpu else ["vmap", "compile", "fused-adamw", "channels-last"])
    torch.backends.cudnn.benchmark = True
    data = make_data(512 if cpu else 2048, size, device)
    rows = []
    for alpha in a.alphas:
        conv_s = timed(conventional_step(alpha, data, batch, device, amp, a.workers), device, 3, repeats)
        for k in ks:
            packed_s = timed(engine_step(k, alpha, data, batch, device, amp), device, 3, repeats)
            separate_s = timed(engine_step(k, alpha, data, batch, device, amp, packed=False), device, 2, repeats)
            row = {"alpha": alpha, "models": k, "size": size, "batch_per_model": batch,
                   "packed_img_s": k * batch / packed_s, "separate_img_s": k * batch / separate_s,
                   "conventional_img_s": batch / conv_s,
                   "packed_vs_separate": separate_s / packed_s, "packed_vs_conventional": k * conv_s / packed_s}
            for variant in a.variants:  # the alternatives and GPU candidates, each against the packed step
                if variant == "vmap":
                    variant_s = timed(vmap_step(k, alpha, data, batch, device, amp), device, 3, repeats)
                else:
                    flags = {"compile": {"compiled": True}, "fused-adamw": {"fused": True},
                             "channels-last": {"channels_last": True}}[variant]
                    variant_s = timed(engine_step(k, alpha, data, batch, device, amp, **flags), device, 5, repeats)
                row[f"{variant}_img_s"] = k * batch / variant_s
                row[f"{variant}_vs_packed"] = packed_s / variant_s
            rows.append(row)
            print(f"alpha {alpha} K {k:2d}: packed {row['packed_img_s']:8.0f} img/s, separate "
                  f"{row['separate_img_s']:8.0f}, conventional {row['conventional_img_s']:8.0f} | packed x"
                  f"{row['packed_vs_separate']:.2f} separate, x{row['packed_vs_conventional']:.2f} conventional",
                  flush=True)
    dev = provenance.device_description(device)
    name = "cpu" if cpu else (dev.get("name") or "cuda").replace(" ", "-")
    out = Path(a.out or OUT / f"packed-{name}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"commit": provenance.git_commit(), "date": provenance.now(), "device": dev,
                               "threads": torch.get_num_threads(), "python": platform.python_version(),
                               "torch": torch.__version__, "amp_bf16": amp, "results": rows}, indent=1) + "\n")
    print(f"-> {out}")


if __name__ == "__main__":
    main()
