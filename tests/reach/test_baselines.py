"""The plain baselines the reach forecast is held against."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pipeline.reach.baselines import LogLinear, no_growth
from pipeline.reach.forecast import Cascade


def doubling(i: int) -> Cascade:
    # i reposts in the first hour, i + 1 more later: (final + 1) / (seen + 1) = 2.
    times = np.concatenate([[0.0], np.linspace(60, 3000, i), np.linspace(7200, 9000, i + 1)])
    return Cascade(f"c{i}", times, np.full(len(times), 10.0))


def test_no_growth_is_what_was_seen() -> None:
    assert no_growth(0) == 0.0 and no_growth(7) == 7.0


def test_log_linear_fits_the_mean_log_ratio_per_time() -> None:
    ll = LogLinear.fit([doubling(i) for i in range(1, 6)], times=[3600.0, 86_400.0])
    assert ll.beta[0] == pytest.approx(math.log(2)) and ll.beta[1] == pytest.approx(0.0)
    assert ll.predict(3, 3600.0) == pytest.approx(7.0)
    # Between fitted times, linear in log t; outside them, the nearest.
    assert ll.beta_at(math.sqrt(3600.0 * 86_400.0)) == pytest.approx(math.log(2) / 2)
    assert ll.beta_at(10.0) == ll.beta[0] and ll.beta_at(1e7) == ll.beta[1]


def test_log_linear_never_forecasts_below_what_was_seen() -> None:
    shrinking = LogLinear(times=(3600.0,), beta=(-1.0,))
    assert shrinking.predict(5, 3600.0) == 5.0


def test_log_linear_needs_a_cascade_with_reposts() -> None:
    with pytest.raises(ValueError, match="at least one cascade with reposts"):
        LogLinear.fit([Cascade("lone", np.array([0.0]), np.array([5.0]))])
