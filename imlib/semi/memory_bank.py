"""U2PL's per-class FIFO memory bank of negative features (teacher representations)."""
from __future__ import annotations

import torch


class MemoryBank:
    """``classes`` queues of at most ``capacity`` feature vectors of dimension ``dim``, on ``device``.

    A queue is one preallocated tensor with a write pointer, so pushing is a copy, not a concat.
    """

    def __init__(self, classes: int, dim: int, capacity: int | list[int], device):
        caps = [capacity] * classes if isinstance(capacity, int) else list(capacity)
        if len(caps) != classes:
            raise ValueError(f"{len(caps)} capacities for {classes} classes")
        self.data = [torch.zeros(c, dim, device=device) for c in caps]
        self.size = [0] * classes
        self.ptr = [0] * classes

    def push(self, c: int, features: torch.Tensor) -> None:
        """Append ``features`` (N, dim) to class ``c``'s queue, overwriting the oldest when full."""
        cap = self.data[c].shape[0]
        features = features.detach()[-cap:]
        n = features.shape[0]
        if n == 0:
            return
        idx = (self.ptr[c] + torch.arange(n, device=features.device)) % cap
        self.data[c][idx] = features.to(self.data[c].dtype)
        self.ptr[c] = (self.ptr[c] + n) % cap
        self.size[c] = min(self.size[c] + n, cap)

    def get(self, c: int) -> torch.Tensor:
        return self.data[c][: self.size[c]]

    def state_dict(self) -> dict:
        return {"data": self.data, "size": self.size, "ptr": self.ptr}

    def load_state_dict(self, state: dict) -> None:
        self.data, self.size, self.ptr = state["data"], list(state["size"]), list(state["ptr"])
