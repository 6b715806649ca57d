"""torchrun support: the process group from the environment torchrun sets (never ``--local_rank``).

Hosts' launchers parse ``--local_rank``, which PyTorch >= 2 passes as ``--local-rank`` (UniMatch issue #41);
here the rank, world size and local rank come from ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``. One process
(no torchrun) is a world of one and needs no process group.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from imlib.engine import pick_device


@dataclass(frozen=True)
class World:
    """This process's place in the run: rank, world size, local rank and its device (one process: a world of one)."""

    rank: int
    size: int
    local_rank: int
    device: torch.device

    @property
    def main(self) -> bool:
        """Rank 0: the process that writes records and checkpoints."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1


def setup(device: str = "auto") -> World:
    """Join torchrun's process group when there is one (NCCL on CUDA, gloo on the CPU)."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return World(0, 1, 0, pick_device(device))
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    base = pick_device(device)
    if base.type == "cuda":
        torch.cuda.set_device(local)
        base = torch.device("cuda", local)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if base.type == "cuda" else "gloo")
    return World(rank, size, local, base)


def barrier(world: World) -> None:
    if world.distributed:
        dist.barrier()


def broadcast_flag(world: World, flag: bool) -> bool:
    """Rank 0's ``flag`` on every rank (e.g. 'a checkpoint exists'), so that all ranks take the same branch."""
    if not world.distributed:
        return flag
    t = torch.tensor([int(flag)], device=world.device if world.device.type == "cuda" else "cpu")
    dist.broadcast(t, 0)
    return bool(t.item())


def shard(items: list[int], world: World) -> list[int]:
    """This rank's share of an index list (DistributedSampler's interleaving, without padding)."""
    return items[world.rank::world.size]
