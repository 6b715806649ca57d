"""K models of a semi-supervised baseline trained together, in lockstep, on one packed network.

A baseline's step is more than a forward pass: views, pseudo-labels, confidence masks, an EMA teacher, a
memory bank. Rewriting six methods for K models would duplicate them, so each member runs its own objective
(its own generator, batch streams, teacher and bank) in its own thread, and sees the packed network through
a :class:`MemberNetwork`: every network call (forward, ``encode``, ``decode``, ``decode_features``, ``head``)
waits until all K members have made it, runs once on the packed network with the K inputs stacked along
channels, and hands each member its slice. Each member's arithmetic is that of a separate training (the
float64 test in ``tests/test_lockstep.py``), while the network, which is the cost, runs once for all.

The EMA teacher of a member is its slice of one packed teacher (the EMA is element-wise, so updating the
slices is updating K teachers). A member's parameters, buffers and state dicts are views or copies of its
slices, so checkpoints, EMA updates and selection work on it as on a single network.

Every member must make the same network calls in the same order with inputs of one shape, which holds for a
method whose calls do not depend on its data; a mismatch raises :class:`LockstepError` naming the calls
(iMAS, whose CutMix trigger is drawn per step, declares ``LOCKSTEP = False`` and trains one model at a time).
"""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import torch

from imlib.engine import autocast
from imlib.models.unet import LightUNet, split_outputs, stack_inputs
from imlib.semi.teacher import make_teacher


class LockstepError(RuntimeError):
    """The members of a lockstep set made different network calls (the method cannot train packed)."""


class LockstepGroup:
    """One packed network shared by K members; runs a network call once all K have made it."""

    TIMEOUT_S = 600.0  # a member that never arrives (a bug) fails the step instead of hanging it

    def __init__(self, packed: LightUNet, device: torch.device):
        self.packed, self.K, self.device = packed, packed.models, device
        self.requests: list[tuple | None] = [None] * self.K
        self.results: list[Any] = [None] * self.K
        self.error: BaseException | None = None
        self.barrier = threading.Barrier(self.K, action=self._execute, timeout=self.TIMEOUT_S)
        self.teacher_group: LockstepGroup | None = None

    def members(self) -> list[MemberNetwork]:
        return [MemberNetwork(self, k) for k in range(self.K)]

    def teacher(self, k: int) -> MemberNetwork:
        """Member k's EMA teacher: its slice of one packed frozen copy of the packed network."""
        if self.teacher_group is None:
            self.teacher_group = LockstepGroup(make_teacher(self.packed), self.device)
        return MemberNetwork(self.teacher_group, k)

    # --- the rendezvous -----------------------------------------------------------------------------

    def call(self, k: int, op: str, payload: Any, training: bool) -> Any:
        grad = torch.is_grad_enabled()
        amp = self.device.type == "cuda" and torch.is_autocast_enabled("cuda")
        self.requests[k] = (op, payload, training, grad, amp)
        try:
            self.barrier.wait()
        except threading.BrokenBarrierError:
            raise (self.error or LockstepError("a lockstep member failed or did not arrive")) from None
        result, self.results[k] = self.results[k], None
        return result

    def abort(self) -> None:
        """Release every waiting member (one of them failed); the step then fails."""
        for group in (self, self.teacher_group):
            if group is not None:
                group.barrier.abort()

    def reset(self) -> None:
        for group in (self, self.teacher_group):
            if group is not None:
                group.barrier.reset()
                group.error = None

    def _execute(self) -> None:
        try:
            self._run()
        except BaseException as e:
            self.error = e
            raise

    def _run(self) -> None:
        ops = [(r[0], r[2], r[3], r[4]) for r in self.requests]
        if len(set(ops)) != 1:
            raise LockstepError("lockstep members made different network calls (op, train mode, grad, autocast): "
                                f"{ops}; this method cannot train packed (set LOCKSTEP = False)")
        op, training, grad, amp = ops[0]
        if op == "done":
            return
        payloads = [r[1] for r in self.requests]
        K, net = self.K, self.packed
        net.train(training)
        with torch.set_grad_enabled(grad), autocast(self.device, amp):
            if op == "forward":
                out = split_outputs(net(stack_inputs(payloads)), K)
                self.results = [out[k] for k in range(K)]
            elif op == "encode":
                feats = net.encode(stack_inputs(payloads))
                self.results = [[f.chunk(K, 1)[k] for f in feats] for k in range(K)]
            elif op in ("decode", "decode_features"):
                stacked = [torch.cat(level, 1) for level in zip(*payloads)]
                out = net.decode(stacked) if op == "decode" else net.decode_features(stacked)
                self.results = list(out.chunk(K, 1))
            elif op == "head":
                self.results = list(net.head(torch.cat(payloads, 1)).chunk(K, 1))
            else:
                raise LockstepError(f"unknown network call {op!r}")


class _MemberHead:
    """A member's view of the packed 1x1 head (U2PL reads ``in_channels`` and calls it on decoder features)."""

    def __init__(self, member: MemberNetwork):
        self.member, head, K = member, member.group.packed.head, member.group.K
        self.in_channels, self.weight = head.in_channels // K, head.weight.chunk(K)[member.k]

    def __call__(self, feats: torch.Tensor) -> torch.Tensor:
        return self.member.group.call(self.member.k, "head", feats, self.member.training)


class MemberNetwork:
    """Member k of a packed network, as its objective sees it: callable like a LightUNet, with its own train /
    eval flag, and parameters, buffers and state dicts that are its slices of the packed ones."""

    def __init__(self, group: LockstepGroup, k: int):
        self.group, self.k, self.training = group, k, True

    # --- the network calls (lockstep) -------------------------------------------------------------------
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.group.call(self.k, "forward", x, self.training)

    def encode(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.group.call(self.k, "encode", x, self.training)

    def decode(self, features: list[torch.Tensor]) -> torch.Tensor:
        return self.group.call(self.k, "decode", list(features), self.training)

    def decode_features(self, features: list[torch.Tensor]) -> torch.Tensor:
        return self.group.call(self.k, "decode_features", list(features), self.training)

    @property
    def head(self) -> _MemberHead:
        return _MemberHead(self)

    def done(self) -> None:
        """The member's step is over: a member with a call the others did not make fails here, not by hanging."""
        for group in (self.group, self.group.teacher_group):
            if group is not None:
                group.call(self.k, "done", None, self.training)

    # --- modes and state (this member's slices) ---------------------------------------------------------
    def train(self, mode: bool = True) -> MemberNetwork:
        self.training = mode
        return self

    def eval(self) -> MemberNetwork:
        return self.train(False)

    def _slice(self, name: str, value: torch.Tensor) -> torch.Tensor:
        return value if name.endswith("num_batches_tracked") else value.chunk(self.group.K)[self.k]

    def parameters(self):
        return [self._slice(n, p) for n, p in self.group.packed.named_parameters()]

    def buffers(self):
        return [self._slice(n, b) for n, b in self.group.packed.named_buffers()]

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The member's weights as a single LightUNet's state dict (copies)."""
        return {n: self._slice(n, v).detach().clone() for n, v in self.group.packed.state_dict().items()}

    @torch.no_grad()
    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        for n, v in self.group.packed.state_dict().items():
            self._slice(n, v).copy_(state[n])

    def make_teacher(self) -> MemberNetwork:
        return self.group.teacher(self.k)


def lockstep_losses(members: list[MemberNetwork], objectives: list, step: int, total: int, device: torch.device,
                    amp: bool, pool: ThreadPoolExecutor) -> list[tuple[torch.Tensor, dict[str, torch.Tensor]]]:
    """Every member's (loss, parts) of one step, each computed by its own objective in its own thread."""
    group = members[0].group

    def member(k: int):
        try:
            with autocast(device, amp):
                out = objectives[k].loss(members[k], step, total)
            members[k].done()
            return out
        except BaseException:
            group.abort()
            raise

    futures = [pool.submit(member, k) for k in range(len(members))]
    errors = [f.exception() for f in futures]
    real = [e for e in errors if e is not None and not isinstance(e, (threading.BrokenBarrierError, LockstepError))]
    if any(e is not None for e in errors):
        group.reset()
        raise (real or [e for e in errors if e is not None])[0]
    return [f.result() for f in futures]
