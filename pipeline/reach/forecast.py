"""Flashpoint's forecast of a cascade's final size: SEISMIC with a learned correction.

SEISMIC's own forecast is reposts so far, R, plus the reposts still owed by the
exposure seen so far, F = p * (follower-weighted remaining kernel mass), scaled up by
the branching factor. On real cascades it is biased low early on (the crowd keeps
reacting longer than the kernel says) and its branching factor swings with noisy
estimates of p. The forecast here keeps R, and for the future blends SEISMIC's
first-generation estimate with the count so far, geometrically, with weights learned
per observation time t (as the SEISMIC paper itself corrects its predictor per t):

    final(t) = R + exp(a_t) * (R + 1) ** b_t * F ** (1 - b_t)

Both terms grow in proportion to the cascade (F through p), so the forecast scales
with the cascade and does not learn "cascades are large" from a training set of large
ones; it is fitted on thinned copies of the training cascades too (each repost kept
with probability 0.2, 0.05 or 0.01), so it is trained on small cascades' noise. The
loss is the absolute percentage error itself. The interval is the 10th and 90th
percentile of log(true / forecast) on the training rows at that t.

Parameters ship in ``models/reach/forecast.json`` (written by ``flashpoint reach fit``)
and are interpolated linearly in log t between the fitted observation times.
"""

from __future__ import annotations

import csv
import gzip
import json
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from pipeline.reach import seismic

FIT_TIMES = (300.0, 600.0, 1200.0, 1800.0, 3600.0, 7200.0, 14_400.0, 21_600.0, 43_200.0, 86_400.0)
THINNING = (1.0, 0.2, 0.05, 0.05, 0.01, 0.01, 0.01)
VERSION = 1


@dataclass(frozen=True, slots=True)
class Cascade:
    id: str
    times: np.ndarray  # seconds after the original post, sorted; times[0] = 0 the post
    followers: np.ndarray

    @property
    def final(self) -> int:
        return len(self.times) - 1

    def thinned(self, keep: float, rng: np.random.Generator) -> Cascade:
        mask = np.concatenate([[True], rng.random(len(self.times) - 1) < keep])
        return Cascade(self.id, self.times[mask], self.followers[mask])


def read_events(path: Path) -> list[Cascade]:
    """Cascades from a CSV (optionally gzipped) with columns ``cascade_id,
    relative_time_second, number_of_followers``; the row at time 0 is the post."""
    opener = gzip.open if path.suffix == ".gz" else open
    rows: dict[str, list[tuple[float, float]]] = {}
    with opener(path, "rt", newline="") as fh:
        reader = csv.DictReader(fh)
        need = {"cascade_id", "relative_time_second", "number_of_followers"}
        missing = need - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
        for i, r in enumerate(reader, start=2):
            try:
                t, n = float(r["relative_time_second"]), float(r["number_of_followers"])
            except (TypeError, ValueError):
                raise ValueError(f"{path}:{i}: time and followers must be numbers") from None
            if not (math.isfinite(t) and math.isfinite(n)) or t < 0 or n < 0:
                raise ValueError(f"{path}:{i}: time and followers must be finite and >= 0")
            rows.setdefault(r["cascade_id"], []).append((t, n))
    out = []
    for cid, events in rows.items():
        a = np.array(sorted(events), dtype=float)
        if a[0, 0] != 0.0:
            raise ValueError(f"{path}: cascade {cid} has no original post (a row at time 0)")
        out.append(Cascade(cid, a[:, 0], a[:, 1]))
    return out


@dataclass(frozen=True, slots=True)
class Features:
    """What both predictors see at observation time t."""

    reposts: int  # R
    first_generation: float  # F = p * remaining exposure
    seismic: seismic.Prediction


def features(c: Cascade, t: float) -> Features:
    s = seismic.predict(c.times, c.followers, t)
    return Features(s.reposts, s.p * s.remaining_exposure, s)


@dataclass(frozen=True, slots=True)
class Forecast:
    t: float
    final: float
    low: float  # 80% interval
    high: float


@dataclass
class Forecaster:
    times: list[float]
    a: list[float]
    b: list[float]
    q10: list[float]
    q90: list[float]
    trained_on: str = ""
    version: int = VERSION
    fit_report: dict[str, object] = field(default_factory=dict)

    def _at(self, values: list[float], t: float) -> float:
        lt = np.log(np.clip(t, self.times[0], self.times[-1]))
        return float(np.interp(lt, np.log(self.times), values))

    def predict(self, reposts: float, first_generation: float, t: float) -> Forecast:
        a, b = self._at(self.a, t), self._at(self.b, t)
        final = float(_formula(reposts, first_generation, a, b))
        lo, hi = final * math.exp(self._at(self.q10, t)), final * math.exp(self._at(self.q90, t))
        # The cascade will be at least as large as it is.
        return Forecast(t, final, max(lo, reposts), max(hi, reposts))

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=1) + "\n")

    @classmethod
    def load(cls, path: Path) -> Forecaster:
        d = json.loads(path.read_text())
        if d.get("version") != VERSION:
            raise ValueError(f"{path}: forecast version {d.get('version')}, this code reads {VERSION}")
        return cls(**d)


def final_reach(reposts: int, repost_followers: float, reach_now: float, final: float) -> float:
    """Potential reach once the cascade reaches ``final`` reposts: later reposters are
    taken to have as many followers as the ones so far (plus one pseudo-reposter with
    SEISMIC's population mean, so a cascade without reposts yet is not assumed empty)."""
    mean = (repost_followers + seismic.N_STAR) / (reposts + 1)
    return reach_now + max(final - reposts, 0.0) * mean


def _formula(reposts: float | np.ndarray, first_generation: float | np.ndarray, a: float, b: float) -> np.ndarray:
    r = np.asarray(reposts, dtype=float)
    f = np.maximum(np.asarray(first_generation, dtype=float), 1e-3)
    return np.asarray(r + np.exp(a) * (r + 1) ** b * f ** (1 - b))


def _rows(cascades: Iterable[Cascade], t: float, seed: int) -> Iterator[tuple[float, float, float]]:
    """(R, F, true final) at ``t`` for each cascade and its thinned copies."""
    rng = np.random.default_rng(seed)
    for c in cascades:
        for keep in THINNING:
            x = c if keep == 1.0 else c.thinned(keep, rng)
            if x.final == 0:
                continue
            f = features(x, t)
            yield f.reposts, f.first_generation, x.final


def fit(cascades: Sequence[Cascade], times: Sequence[float] = FIT_TIMES, seed: int = 0, name: str = "") -> Forecaster:
    from scipy.optimize import minimize  # type: ignore[import-untyped]

    a, b, q10, q90 = [], [], [], []
    for t in times:
        rows = np.array(list(_rows(cascades, t, seed)), dtype=float).reshape(-1, 3)
        r, f, y = rows[:, 0], rows[:, 1], rows[:, 2]

        def loss(theta: np.ndarray, r: np.ndarray = r, f: np.ndarray = f, y: np.ndarray = y) -> float:
            return float(np.mean(np.abs(_formula(r, f, theta[0], theta[1]) - y) / y))

        opts = {"xatol": 1e-4, "fatol": 1e-7}
        starts = ([0.0, 0.5], [0.5, 0.0])
        best = min((minimize(loss, x0, method="Nelder-Mead", options=opts) for x0 in starts), key=lambda res: res.fun)
        # b outside [0, 1] would let the forecast shrink as a cascade grows.
        ta, tb = float(best.x[0]), float(np.clip(best.x[1], 0.0, 1.0))
        resid = np.log(y / _formula(r, f, ta, tb))
        a.append(ta)
        b.append(tb)
        q10.append(float(np.percentile(resid, 10)))
        q90.append(float(np.percentile(resid, 90)))
    return Forecaster(list(map(float, times)), a, b, q10, q90, trained_on=name)
