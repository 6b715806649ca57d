"""The one selection rule: best on validation, ties to the earlier candidate.

It picks the checkpoint epoch of a model, ranks the models of a generation (the top-n become the next
teachers) and picks the generation whose top-1 model is a run's headline. Test scores never enter.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")


def improves(score: float, best: float | None, higher_is_better: bool) -> bool:
    """Whether ``score`` is strictly better than ``best`` (``None``: nothing chosen yet)."""
    if best is None:
        return True
    return score > best if higher_is_better else score < best


def rank(candidates: Sequence[T], score: Callable[[T], float], higher_is_better: bool) -> list[T]:
    """Best first; candidates with equal scores keep their order (a stable sort)."""
    sign = -1.0 if higher_is_better else 1.0
    return sorted(candidates, key=lambda c: sign * score(c))


def pick_best(candidates: Sequence[T], score: Callable[[T], float], higher_is_better: bool) -> T:
    """The best candidate; the earliest of equals."""
    if not candidates:
        raise ValueError("nothing to choose from")
    return rank(candidates, score, higher_is_better)[0]
