"""Speed of the hot paths: a training step of the paper's U-Net, IM pair creation, batched augmentation.

    .venv/bin/python benchmarks/speed.py                 # CPU, the smoke sizes
    .venv/bin/python benchmarks/speed.py --device cuda --size 256 --batch 32 --alpha 1

Prints one line per measurement (median of repeats). Targets and measured figures: benchmarks/README.md.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from imlib.data.augment import augmented_copies
from imlib.data.task import AugmentConfig, Task
from imlib.engine import autocast, pick_device
from imlib.im import apply_im, inconsistency_mask
from imlib.losses import task_loss
from imlib.models import LightUNet


def timed(fn, device, repeats: int) -> float:
    fn()  # warm-up
    out = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        out.append(time.perf_counter() - t)
    return statistics.median(out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="auto")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--alpha", type=float, default=0.5)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--repeats", type=int, default=20)
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    dev = pick_device(a.device)
    task = Task("multiclass", 3, 9, tuple("IMabcdefgh"[:9]))
    model = LightUNet(3, 9, a.alpha).to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    x = torch.randint(0, 256, (a.batch, 3, a.size, a.size), dtype=torch.uint8, device=dev)
    y = torch.randint(1, 9, (a.batch, 1, a.size, a.size), dtype=torch.uint8, device=dev)

    def step():
        with autocast(dev):
            loss = task_loss(model(x), y, task)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    t = timed(step, dev, a.repeats)
    print(f"train step   {dev.type:4s} alpha={a.alpha} {a.batch}x{a.size}^2 threads={torch.get_num_threads()}: "
          f"{t * 1e3:7.1f} ms  ({a.batch / t:7.0f} images/s)")
    probs = torch.rand(3, 64, 9, a.size, a.size, device=dev).softmax(2)
    imgs = torch.randint(0, 256, (64, 3, a.size, a.size), dtype=torch.uint8, device=dev)

    def im_pairs():
        res = inconsistency_mask(probs, task)
        apply_im(imgs, res.label, res.mask, task)

    t = timed(im_pairs, dev, a.repeats)
    print(f"IM pairs     {dev.type:4s} 3 teachers x 64 images {a.size}^2: {t * 1e3:7.1f} ms  ({64 / t:7.0f} images/s)")
    lab = y[:, :1].expand(-1, 1, -1, -1).contiguous()
    t = timed(lambda: augmented_copies(x, lab, AugmentConfig(), 9, seed=0), dev, max(3, a.repeats // 4))
    print(f"augment x9   {dev.type:4s} {a.batch} images {a.size}^2: {t * 1e3:7.1f} ms  ({9 * a.batch / t:7.0f} copies/s)")


if __name__ == "__main__":
    main()
