"""The one selection rule: best on validation, ties to the earlier candidate.

It picks the checkpoint epoch of a model, ranks the models of a generation (the top-n become the next
teachers) and picks, among a run's candidate generations, the one whose top-1 model is its headline.
Test scores never enter.
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


def candidate_generations(generations: Sequence[T], number: Callable[[T], int]) -> list[T]:
    """The generations a run's headline is chosen from: those after generation 0 (a generational method's
    generation 0 is its LDT teachers, not its own models), or the one generation a reference or a
    semi-supervised baseline has. ``number`` gives a generation's index."""
    return [g for g in generations if number(g) > 0] or list(generations)
