import math

import pytest

from imlib.stats import mean_interval, paired_difference


def test_t_interval_matches_the_textbook_value():
    # mean 2, sd 1, n 3: half-width t_{0.975, 2} * 1 / sqrt(3) = 4.3027 / 1.7321 = 2.4841
    iv = mean_interval([1.0, 2.0, 3.0])
    assert iv.mean == 2 and iv.half_width == pytest.approx(2.4841, abs=1e-4) and iv.n == 3


def test_one_value_has_no_interval_and_overlaps_everything():
    iv = mean_interval([5.0])
    assert math.isnan(iv.low) and iv.overlaps(mean_interval([100.0, 101.0]))
    with pytest.raises(ValueError):
        mean_interval([])


def test_overlap():
    assert not mean_interval([1.0, 1.1, 0.9]).overlaps(mean_interval([5.0, 5.1, 4.9]))
    assert mean_interval([1.0, 3.0, 5.0]).overlaps(mean_interval([4.0, 4.5, 5.0]))


def test_paired_difference_is_oriented_by_the_metric():
    a, b = {0: 0.70, 1: 0.72, 2: 0.71}, {0: 0.60, 1: 0.61, 2: 0.62}
    up = paired_difference(a, b, higher_is_better=True)
    assert up.difference.mean == pytest.approx(0.1) and up.verdict == "better" and (up.a_better, up.b_better) == (3, 0)
    # for a lower-is-better metric (MCCE) the same numbers mean a is worse
    assert paired_difference(a, b, higher_is_better=False).verdict == "worse"


def test_pairing_removes_the_shared_seed_noise_and_uses_common_seeds_only():
    # large spread between seeds, a constant small gain within each: unpaired intervals overlap,
    # the paired difference is clearly positive
    a, b = {0: 0.31, 1: 0.61, 2: 0.91, 9: 0.0}, {0: 0.30, 1: 0.60, 2: 0.90}
    assert mean_interval([a[s] for s in (0, 1, 2)]).overlaps(mean_interval(list(b.values())))
    d = paired_difference(a, b, higher_is_better=True)
    assert d.difference.n == 3 and d.verdict == "better"
    noisy = paired_difference({0: 1.0, 1: 0.0, 2: 0.5}, {0: 0.0, 1: 1.0, 2: 0.5}, True)
    assert noisy.verdict == "no detectable difference" and (noisy.a_better, noisy.b_better) == (1, 1)
