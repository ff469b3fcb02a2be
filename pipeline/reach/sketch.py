"""A cascade's arrivals in bounded space: what the reach predictors need, and no more.

SEISMIC (and the forecast built on it) reads a cascade as follower exposure and repost
counts over time. Keeping every event would grow a viral cascade's state without bound
and rewrite it to the changelog on every repost, so arrivals are summed into time bins
measured from the original post: 30-second bins for the first five minutes (where the
reaction-time kernel is flat) and then bins 10% wider than their start (where it
decays as a power law, so a bin's events react alike). A bin keeps four sums
(reposts, their times, followers, follower-weighted times); each becomes one
pseudo-event at its mean time, so first moments are exact and only the spread inside
a bin is lost. Thirty days fit in 106 bins: under 5 KB of JSON per cascade at most,
whatever its size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from pipeline.reach import seismic

LINEAR_STEP = 30.0  # seconds
LINEAR_BINS = int(seismic.S0 // LINEAR_STEP)
RATIO = 1.1
MAX_AGE = 30 * 86_400.0

# Index of a bin's sums.
REPOSTS, REPOST_TIME, FOLLOWERS, FOLLOWER_TIME = range(4)


def bin_of(age: float) -> int:
    age = min(max(age, 0.0), MAX_AGE)
    if age < seismic.S0:
        return int(age // LINEAR_STEP)
    return LINEAR_BINS + int(math.log(age / seismic.S0) / math.log(RATIO))


@dataclass
class ArrivalSketch:
    """Arrivals relative to ``anchor`` (epoch seconds): the original post's time once
    it is known, the first arrival's until then."""

    anchor: float | None = None
    root_followers: float = 0.0
    root_seen: bool = False
    bins: dict[int, list[float]] = field(default_factory=dict)
    # The bins as to_dict() last gave them, and which bins changed since: a hot
    # cascade's state is saved after each of its reposts, and encoding all of its bins
    # again each time was the largest single cost of a repost (28 of 130 us).
    _encoded: dict[str, list[float]] | None = field(default=None, repr=False, compare=False)
    _changed: set[int] = field(default_factory=set, repr=False, compare=False)

    def add_root(self, at: float, followers: float) -> None:
        if self.root_seen:
            return
        if self.anchor is not None and at != self.anchor:
            self._reanchor(at)
        self.anchor = at
        self.root_seen = True
        self.root_followers = float(followers)

    def add(self, at: float, followers: float) -> None:
        """One repost (or quote): exposure to ``followers`` more accounts."""
        if self.anchor is None:
            self.anchor = at
        elif at < self.anchor and not self.root_seen:
            self._reanchor(at)
        t = max(at - self.anchor, 0.0)
        k = bin_of(t)
        self._changed.add(k)
        b = self.bins.setdefault(k, [0.0, 0.0, 0.0, 0.0])
        b[REPOSTS] += 1
        b[REPOST_TIME] += t
        b[FOLLOWERS] += followers
        b[FOLLOWER_TIME] += followers * t
        b[:] = _rounded(b)

    def _reanchor(self, new_anchor: float) -> None:
        # Shift every sum to the new origin and re-bin at the shifted means.
        assert self.anchor is not None
        d = self.anchor - new_anchor
        old, self.bins = self.bins, {}
        for s in old.values():
            c, n = s[REPOSTS], s[FOLLOWERS]
            shifted = [c, s[REPOST_TIME] + c * d, n, s[FOLLOWER_TIME] + n * d]
            mean = shifted[REPOST_TIME] / c if c else 0.0
            b = self.bins.setdefault(bin_of(mean), [0.0, 0.0, 0.0, 0.0])
            for i in range(4):
                b[i] += shifted[i]
        for b in self.bins.values():
            b[:] = _rounded(b)
        self.anchor = new_anchor
        self._encoded = None

    @property
    def reposts(self) -> int:
        return int(sum(b[REPOSTS] for b in self.bins.values()))

    @property
    def repost_followers(self) -> float:
        return float(sum(b[FOLLOWERS] for b in self.bins.values()))

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Pseudo-events (exposure times, followers, repost times, counts), seconds
        after the original post, sorted; the original post is the first exposure."""
        sums = np.array([self.bins[k] for k in sorted(self.bins)], dtype=float).reshape(-1, 4)
        n = sums[:, FOLLOWERS]
        c = sums[:, REPOSTS]
        exp_t = np.where(n > 0, sums[:, FOLLOWER_TIME] / np.where(n > 0, n, 1), sums[:, REPOST_TIME] / c)
        rep_t = sums[:, REPOST_TIME] / c
        return (
            np.concatenate([[0.0], exp_t]),
            np.concatenate([[self.root_followers], n]),
            rep_t,
            c,
        )

    def rows(self) -> tuple[list[float], list[float], list[float], list[float]]:
        """:meth:`arrays` as plain lists (for :func:`seismic.predict_rows`)."""
        exp_t, exp_n, rep_t, rep_c = [0.0], [self.root_followers], [], []
        for k in sorted(self.bins):
            c, rt, n, ft = self.bins[k]
            exp_t.append(ft / n if n > 0 else rt / c)
            exp_n.append(n)
            rep_t.append(rt / c)
            rep_c.append(c)
        return exp_t, exp_n, rep_t, rep_c

    def age(self, at: float) -> float:
        """Seconds from the anchor to epoch time ``at``."""
        return max(at - (self.anchor or at), 0.0)

    def seismic(self, at: float, n_star: float = seismic.N_STAR) -> seismic.Prediction:
        """SEISMIC's prediction at epoch time ``at``."""
        return seismic.predict_rows(*self.rows(), self.age(at), n_star)

    def to_dict(self) -> dict[str, object]:
        # A new dict with new lists for the changed bins: a dict once stored is never
        # changed (the tracker's decoded-state cache and failed events rely on that).
        if self._encoded is None:
            self._encoded = {str(k): list(v) for k, v in self.bins.items()}
        else:
            for k in self._changed:
                self._encoded[str(k)] = list(self.bins[k])
        self._changed.clear()
        return {
            "anchor": self.anchor,
            "root_followers": self.root_followers,
            "root_seen": self.root_seen,
            "bins": dict(self._encoded),
        }

    @classmethod
    def from_dict(cls, d: dict[str, object]) -> ArrivalSketch:
        bins = d.get("bins") or {}
        assert isinstance(bins, dict)
        anchor = d.get("anchor")
        sketch = cls(
            anchor=float(anchor) if isinstance(anchor, (int, float)) else None,
            root_followers=float(d.get("root_followers") or 0.0),  # type: ignore[arg-type]
            root_seen=bool(d.get("root_seen")),
            bins={int(k): [float(x) for x in v] for k, v in bins.items()},
        )
        # The stored lists are shared, never changed: to_dict() replaces a changed bin's.
        sketch._encoded = {str(k): v for k, v in bins.items()}
        return sketch


def _rounded(sums: list[float]) -> list[float]:
    # 6 significant digits keep the state small. Rounded as they change, not when
    # encoded: re-encoding every bin cost more than the rest of a repost's work, and
    # the forecast then reads exactly what is stored.
    return [float(f"{x:.6g}") for x in sums]
