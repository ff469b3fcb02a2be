"""Two plain forecasts of a cascade's final size, the bar any model has to clear.

- No further growth: the final size is what has been seen (R reposts). On small
  cascades, which mostly stop after a burst, it is hard to beat.
- Log-linear (Szabo & Huberman, "Predicting the popularity of online content", CACM
  2010): the log of the final count is the log of the count seen plus a constant per
  observation time, ``ln(final + 1) = ln(R + 1) + beta_t``, counting the original post
  as an event so that a cascade with no reposts yet has a size. ``beta_t`` is the mean
  of ``ln((final + 1) / (R + 1))`` over the training cascades, as in the paper; it is
  interpolated linearly in log t between the fitted times.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pipeline.reach.forecast import FIT_TIMES, Cascade, at_log_time


def no_growth(reposts: int) -> float:
    return float(reposts)


@dataclass(frozen=True, slots=True)
class LogLinear:
    times: tuple[float, ...]
    beta: tuple[float, ...]

    @classmethod
    def fit(cls, cascades: Sequence[Cascade], times: Sequence[float] = FIT_TIMES) -> LogLinear:
        grown = [c for c in cascades if c.final > 0]
        if not grown:
            raise ValueError("the log-linear baseline needs at least one cascade with reposts")
        beta = []
        for t in times:
            seen = np.array([np.count_nonzero(c.times[1:] <= t) for c in grown], dtype=float)
            final = np.array([c.final for c in grown], dtype=float)
            beta.append(float(np.mean(np.log((final + 1) / (seen + 1)))))
        return cls(tuple(float(t) for t in times), tuple(beta))

    def beta_at(self, t: float) -> float:
        return at_log_time(self.times, [math.log(x) for x in self.times], self.beta, t)

    def predict(self, reposts: int, t: float) -> float:
        # The count seen is a floor: a cascade does not shrink.
        return max(float(reposts), (reposts + 1) * math.exp(self.beta_at(t)) - 1)
