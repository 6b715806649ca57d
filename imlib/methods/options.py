"""A method's own options: each declared once with its default and the reason for that value.

The registry entry of a method lists them (the book's hyperparameter table prints them); a run's
``config.options`` holds them completed with the defaults, so they are part of what identifies the run's
models, and a misspelt option fails before any training.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Option:
    """One option of a method: its ``default``, ``why`` that value (shown in the book's tables), and an
    optional ``check`` of allowed values."""

    default: Any
    why: str  # one line: where the value comes from (published, the paper's, chosen and why)
    # what a value must be beyond the default's type: returns what was expected, or None when it fits
    check: Callable[[Any], str | None] | None = None

    def problem(self, value: Any) -> str | None:
        """What is wrong with ``value`` (None: nothing): the default's type (an int is a float too, a list a
        tuple), then ``check``."""
        d = self.default
        if d is not None:
            numeric = isinstance(d, (int, float)) and not isinstance(d, bool)
            if numeric and (isinstance(value, bool) or not isinstance(value, (int, float))
                            or (isinstance(d, int) and isinstance(value, float))):
                return "a whole number" if isinstance(d, int) else "a number"
            if isinstance(d, bool) and not isinstance(value, bool):
                return "True or False"
            if isinstance(d, str) and not isinstance(value, str):
                return "a text"
            if isinstance(d, (tuple, list)) and (not isinstance(value, (tuple, list)) or len(value) != len(d)):
                return f"a list of {len(d)} values"
        return self.check(value) if self.check else None


def one_of(*choices: Any) -> Callable[[Any], str | None]:
    return lambda v: None if v in choices else "one of " + ", ".join(repr(c) for c in choices)


def resolve_options(owner: str, declared: dict[str, Option], given: dict[str, Any] | None) -> dict[str, Any]:
    """``given`` completed with the declared defaults; an undeclared name is an error naming ``owner``.
    Values are stored as JSON has them (tuples become lists), so a run and its reloaded record agree."""
    given = dict(given or {})
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise ValueError(f"{owner}: unknown options {unknown}; known: {sorted(declared) or 'none'}")
    for name, value in given.items():
        expected = declared[name].problem(value)
        if expected:
            raise ValueError(f"{owner}: option {name} must be {expected}, got {value!r}")
    return json.loads(json.dumps({k: given.get(k, o.default) for k, o in declared.items()}))
