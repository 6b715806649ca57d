"""Count the operations that would make the host wait for a CUDA device, on any device (tests run on CPU).

A training step that reads a value back (``float(t)``, ``if t.any()``, ``t.item()``), indexes with a boolean
mask or asks for ``nonzero`` has to wait for the GPU to finish everything queued before it, so the host
stops feeding the device. CUDA's own detector (``torch.cuda.set_sync_debug_mode``) needs a GPU; this mode
sees the same operations through ``__torch_function__`` wherever the tensors live, so a test on the CPU can
keep the count of a step at its budget.

Counted: reading a tensor into Python (``__bool__``, ``__float__``, ``__int__``, ``__index__``, ``item``,
``tolist``, ``numpy``), copies to the host (``cpu``; ``to`` with a CPU target), operations whose output size
depends on the values (``nonzero``, ``argwhere``, ``masked_select``, ``unique``, boolean-mask indexing and
assignment), and a blocking copy from unpinned host memory (``to`` of a CPU tensor that is not pinned, with a
device given and ``non_blocking`` unset): on a CUDA device that copy waits for the queue.
"""
from __future__ import annotations

import traceback
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

import torch
from torch.overrides import TorchFunctionMode

READBACK = {"__bool__", "__float__", "__int__", "__index__", "item", "tolist", "numpy", "cpu"}
VALUE_SHAPED = {"nonzero", "argwhere", "masked_select", "unique", "unique_consecutive"}


def _bool_index(index) -> bool:
    parts = index if isinstance(index, tuple) else (index,)
    return any(torch.is_tensor(p) and p.dtype == torch.bool for p in parts)


def _blocking_copy(args, kwargs) -> bool:
    """``t.to(device)`` of an unpinned CPU tensor without ``non_blocking``: inside a step every tensor should
    already be on the training device, so on CUDA this is a host-to-device copy that waits for the queue."""
    src = args[0] if args else None
    if not torch.is_tensor(src) or src.device.type != "cpu" or kwargs.get("non_blocking") or src.is_pinned():
        return False
    return kwargs.get("device") is not None or any(isinstance(a, (str, torch.device)) for a in args[1:])


class HostSyncCounter(TorchFunctionMode):
    """``with HostSyncCounter() as c: step()`` then ``c.counts`` (name -> times) and ``c.total``."""

    def __init__(self):
        super().__init__()
        self.counts: Counter[str] = Counter()
        self.places: Counter[str] = Counter()  # "name at file:line" of the innermost project frame

    def _count(self, what: str) -> None:
        self.counts[what] += 1
        frames = [f for f in traceback.extract_stack()[:-2] if "/torch/" not in f.filename]
        here = frames[-1] if frames else None
        self.places[f"{what} at {Path(here.filename).name}:{here.lineno}" if here else what] += 1

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = getattr(func, "__name__", "")
        if name in READBACK or name in VALUE_SHAPED:
            self._count(name)
        elif name in ("__getitem__", "__setitem__") and len(args) > 1 and _bool_index(args[1]):
            self._count(f"{name}[bool]")
        elif name == "to" and _blocking_copy(args, kwargs):
            self._count("to (unpinned, blocking)")
        return func(*args, **kwargs)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@contextmanager
def count_host_syncs():
    counter = HostSyncCounter()
    with counter:
        yield counter
