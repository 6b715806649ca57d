"""Training throughput of K U-Nets: packed into one grouped network, one after another, and a conventional loop.

    .venv/bin/python benchmarks/packed.py                       # CPU: 64 px, batch 8, K = 1, 2, 5 (under a minute)
    .venv/bin/python benchmarks/packed.py --device cuda --size 256 --batch 32 --models 1 5 10

For each alpha and K it times one training step (forward, the task loss, backward, AdamW) of

* ``packed``: the K models as one :class:`imlib.models.unet.LightUNet` with ``models=K`` (grouped convolutions),
  each model on its own batch of images indexed from uint8 tensors on the device;
* ``separate``: the K models one after another, the same data path (what the engine does today);
* ``conventional``: one model fed by a ``DataLoader`` over the same images with per-sample augmentation
  (flip, rot90, brightness) in worker processes, the usual PyTorch recipe; counted per model and scaled to K.

Images per second count every model's images (K x batch per step). Writes ``results/packed-<device>.json``
with the device, commit and the ratios packed / separate and packed / conventional.
"""
from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

import torch

from imlib import provenance
from imlib.engine import autocast, pick_device
from imlib.losses import task_loss
from imlib.data.task import Task
from imlib.models.unet import LightUNet, pack, split_outputs, stack_inputs
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


def adamw(params) -> torch.optim.Optimizer:
    return torch.optim.AdamW(params, lr=3e-3, weight_decay=1e-4 / 3e-3, eps=1e-7)


def packed_step(k: int, alpha: float, data, batch: int, device: torch.device, amp: bool):
    images, labels = data
    net = pack(singles(k, alpha, device))
    opt = adamw(net.parameters())
    g = torch.Generator(device=device).manual_seed(0)

    def step():
        idx = torch.randint(0, len(images), (k, batch), generator=g, device=device)
        with autocast(device, amp):
            logits = split_outputs(net(stack_inputs([images[i] for i in idx])), k)
            loss = sum(task_loss(logits[m], labels[idx[m]], TASK) for m in range(k))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def separate_step(k: int, alpha: float, data, batch: int, device: torch.device, amp: bool):
    images, labels = data
    nets = singles(k, alpha, device)
    opts = [adamw(n.parameters()) for n in nets]
    g = torch.Generator(device=device).manual_seed(0)

    def step():
        for net, opt in zip(nets, opts):
            idx = torch.randint(0, len(images), (batch,), generator=g, device=device)
            with autocast(device, amp):
                loss = task_loss(net(images[idx]), labels[idx], TASK)
            opt.zero_grad(set_to_none=True)
            loss.backward()
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
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    device = pick_device(a.device)
    cpu = device.type == "cpu"
    size, batch = a.size or (64 if cpu else 256), a.batch or (8 if cpu else 32)
    ks, repeats = a.models or ([1, 2, 5] if cpu else [1, 5, 10]), a.repeats or (5 if cpu else 20)
    amp = not cpu
    torch.backends.cudnn.benchmark = True
    data = make_data(512 if cpu else 2048, size, device)
    rows = []
    for alpha in a.alphas:
        conv_s = timed(conventional_step(alpha, data, batch, device, amp, a.workers), device, 3, repeats)
        for k in ks:
            packed_s = timed(packed_step(k, alpha, data, batch, device, amp), device, 3, repeats)
            separate_s = timed(separate_step(k, alpha, data, batch, device, amp), device, 2, repeats)
            row = {"alpha": alpha, "models": k, "size": size, "batch_per_model": batch,
                   "packed_img_s": k * batch / packed_s, "separate_img_s": k * batch / separate_s,
                   "conventional_img_s": batch / conv_s,
                   "packed_vs_separate": separate_s / packed_s, "packed_vs_conventional": k * conv_s / packed_s}
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
