"""The one selection rule: best on validation, ties to the earlier candidate.

It picks the checkpoint epoch of a model, ranks the models of a generation (the top-n become the next
teachers) and picks, among a run's candidate generations, the one whose top-1 model is its headline (which
generations are candidates: ``SELECTION_RULES``, the paper's by default). Test scores never enter.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, TypeVar

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


# RunConfig.selection: which generations a run's headline is chosen from, and why
SELECTION_RULES = {
    "paper": "the generation whose top-1 model is best on validation, among generations 1..G: generation 0 "
             "(a generational method's LDT teachers) is never a candidate, as in the paper",
    "with-teachers": "the generation whose top-1 model is best on validation, among generations 0..G: a run "
                     "whose generations never beat their LDT teachers on validation reports the teachers",
}


def candidate_generations(generations: Sequence[T], number: Callable[[T], int], rule: str = "paper") -> list[T]:
    """The generations a run's headline is chosen from (``SELECTION_RULES``): under the paper's rule those
    after generation 0 (a generational method's generation 0 is its LDT teachers, not its own models), or the
    one generation a reference or a semi-supervised baseline has; under "with-teachers" all of them.
    ``number`` gives a generation's index."""
    if rule not in SELECTION_RULES:
        raise ValueError(f"selection rule must be one of {', '.join(SELECTION_RULES)}, got {rule!r}")
    if rule == "with-teachers":
        return list(generations)
    return [g for g in generations if number(g) > 0] or list(generations)


class Choice(NamedTuple):
    """A run's headline generation, the candidates it was chosen from, and its teachers' generation (a
    generational run's generation 0; None for a run of one generation) with whether the headline's
    validation score is worse than the teachers'."""

    best: Any
    candidates: list
    teachers: Any
    below_teachers: bool | None


def choose_headline(generations: Sequence[T], number: Callable[[T], int], val: Callable[[T], float],
                    higher_is_better: bool, rule: str = "paper") -> Choice:
    """The headline by ``rule``, with the teachers' generation beside it: under the paper's rule a headline
    can be worse on validation than the teachers it started from, and the record says so."""
    candidates = candidate_generations(generations, number, rule)
    best = pick_best(candidates, val, higher_is_better)
    teachers = next((g for g in generations if number(g) == 0), None) if len(generations) > 1 else None
    below = None if teachers is None else improves(val(teachers), val(best), higher_is_better)
    return Choice(best, candidates, teachers, below)
