"""The benchmarks' one way to time a step: warm up, wait for the device, take the median of repeats."""
from __future__ import annotations

import statistics
import time

import torch


def sync(device: torch.device) -> None:
    """Wait for the device's queued work (CUDA runs asynchronously; a timer without this times the launch)."""
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed(step, device: torch.device, warmup: int, repeats: int) -> float:
    """The median seconds of ``repeats`` calls of ``step`` after ``warmup`` untimed ones."""
    for _ in range(warmup):
        step()
    sync(device)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        step()
        sync(device)
        times.append(time.perf_counter() - t)
    return statistics.median(times)
