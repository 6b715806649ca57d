"""What a handful of seeds can and cannot say: Student-t intervals for a mean and for a paired
difference. With 3 seeds the 95 % t quantile is 4.30, so only large, consistent differences are
resolved; the tables say "no detectable difference" rather than rank noise.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from scipy import stats as _scipy_stats

LEVEL = 0.95


@dataclass(frozen=True)
class Interval:
    """A mean over ``n`` values and its two-sided t interval (``low``/``high`` are NaN when n < 2)."""

    mean: float
    low: float
    high: float
    n: int

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2

    def overlaps(self, other: Interval) -> bool:
        """Whether the two intervals share a point (True when either is undefined)."""
        if math.isnan(self.low) or math.isnan(other.low):
            return True
        return self.low <= other.high and other.low <= self.high


def mean_interval(values: Sequence[float], level: float = LEVEL) -> Interval:
    """The mean and its Student-t interval over independent values (seeds)."""
    xs = [float(v) for v in values]
    n = len(xs)
    if n == 0:
        raise ValueError("no values to average")
    mean = sum(xs) / n
    if n < 2:
        return Interval(mean, math.nan, math.nan, n)
    sd = math.sqrt(sum((x - mean) ** 2 for x in xs) / (n - 1))
    h = float(_scipy_stats.t.ppf((1 + level) / 2, n - 1)) * sd / math.sqrt(n)
    return Interval(mean, mean - h, mean + h, n)


@dataclass(frozen=True)
class PairedDifference:
    """``a - b`` over the seeds both have, oriented so that a positive difference means ``a`` is better."""

    difference: Interval
    a_better: int  # seeds on which a is better
    b_better: int

    @property
    def verdict(self) -> str:
        d = self.difference
        if d.n < 2:
            return "one seed: no conclusion"
        if d.low > 0:
            return "better"
        if d.high < 0:
            return "worse"
        return "no detectable difference"


def paired_difference(a: Mapping[int, float], b: Mapping[int, float], higher_is_better: bool,
                      level: float = LEVEL) -> PairedDifference:
    """Paired over seeds: the same seed shares the split, the data and (for ME/IM) the LDT teachers, so
    the per-seed difference removes that shared noise."""
    seeds = sorted(set(a) & set(b))
    if not seeds:
        raise ValueError("no seed in common")
    sign = 1.0 if higher_is_better else -1.0
    diffs = [sign * (a[s] - b[s]) for s in seeds]
    return PairedDifference(mean_interval(diffs, level), sum(d > 0 for d in diffs), sum(d < 0 for d in diffs))
