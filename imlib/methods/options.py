"""A method's own options: each declared once with its default and the reason for that value.

The registry entry of a method lists them (the book's hyperparameter table prints them); a run's
``config.options`` holds them completed with the defaults, so they are part of what identifies the run's
models, and a misspelt option fails before any training.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Option:
    default: Any
    why: str  # one line: where the value comes from (published, the paper's, chosen and why)


def resolve_options(owner: str, declared: dict[str, Option], given: dict[str, Any] | None) -> dict[str, Any]:
    """``given`` completed with the declared defaults; an undeclared name is an error naming ``owner``.
    Values are stored as JSON has them (tuples become lists), so a run and its reloaded record agree."""
    given = dict(given or {})
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise ValueError(f"{owner}: unknown options {unknown}; known: {sorted(declared) or 'none'}")
    return json.loads(json.dumps({k: given.get(k, o.default) for k, o in declared.items()}))
