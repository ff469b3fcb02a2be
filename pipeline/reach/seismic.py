"""SEISMIC: predict a cascade's final number of reposts from the ones seen so far.

Zhao, Erdogdu, He, Rajaraman & Leskovec, "SEISMIC: A Self-Exciting Point Process Model
for Predicting Tweet Popularity", KDD 2015. Reposts arrive as a self-exciting point
process: a post seen by n followers at time t_i adds intensity p * n * phi(t - t_i),
where phi is the human reaction-time density (the memory kernel) and p the post's
infectiousness.

- Memory kernel: phi(s) = c for s <= s0, c * (s / s0) ** -(1 + theta) after, with
  c = 6.265725e-4 per second, s0 = 300 s, theta = 0.2314843 (fitted on Twitter by the
  authors; the kernel integrates to 1).
- Infectiousness at time t: reposts seen, divided by the exposure they had time to
  act on, sum_i n_i * integral phi(s - t_i) ds. As in the authors' implementation the
  estimate is local: both counts are weighted by a triangular kernel over the last
  w = clamp(t / 2, 5 min, 2 h) seconds (stretched back to cover at least 5 events),
  so p follows a post that is losing steam. The 95% interval is the chi-square one of a
  Poisson count.
- Final size: reposts so far R_t, plus the reposts the exposure still to come will
  cause directly, p * sum_i n_i * (1 - Phi(t - t_i)), times the branching factor
  1 / (1 - p * n*) of all later generations, n* being the mean follower count of a
  reposter (100 by default). When p * n* >= 1 every generation is larger than the
  last: the cascade is supercritical and the prediction infinite.

Plain numpy; the original post is event 0 (time 0) and counts as exposure, not as a
repost. :func:`predict_rows` is the same arithmetic in plain Python, for the stream: a
cascade's sketch has at most about a hundred rows, where numpy's cost per call is most
of the work.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

C = 6.265725e-4
S0 = 300.0
THETA = 0.2314843
N_STAR = 100.0
MIN_WINDOW = 300.0
MAX_WINDOW = 2 * 3600.0
MIN_COUNT = 5


def kernel(s: np.ndarray | float) -> np.ndarray:
    """phi(s): reaction-time density, per second."""
    s = np.asarray(s, dtype=float)
    return np.where(s < 0, 0.0, np.where(s <= S0, C, C * (np.maximum(s, S0) / S0) ** -(1 + THETA)))


def kernel_ccdf(s: np.ndarray | float) -> np.ndarray:
    """1 - Phi(s): the share of reactions still to come ``s`` seconds after exposure."""
    s = np.maximum(np.asarray(s, dtype=float), 0.0)
    tail = C * S0 ** (1 + THETA) / THETA * np.maximum(s, S0) ** -THETA
    return np.where(s <= S0, 1.0 - C * s, tail)


def _flat_part(lo: np.ndarray, hi: np.ndarray, t: float, slope: float) -> np.ndarray:
    # integral over [lo, hi] of c * (slope * (s - t) + 1) ds
    def f(s: np.ndarray) -> np.ndarray:
        return np.asarray(C * (s + slope * (s * s / 2 - t * s)))

    return np.asarray(f(hi) - f(lo))


def _tail_part(lo: np.ndarray, hi: np.ndarray, t: float, slope: float, ti: np.ndarray) -> np.ndarray:
    # integral over [lo, hi] of c * ((s - ti) / s0) ** -(1 + theta) * (slope * (s - t) + 1) ds;
    # with u = s - ti the integrand is A * (slope * u**-theta + b * u**-(1 + theta)).
    a = C * S0 ** (1 + THETA)
    b = 1 + slope * (ti - t)

    def f(u: np.ndarray) -> np.ndarray:
        return np.asarray(a * (slope * u ** (1 - THETA) / (1 - THETA) - b * u**-THETA / THETA))

    return np.asarray(f(hi - ti) - f(lo - ti))


def weighted_exposure(times: np.ndarray, t: float, window: float) -> np.ndarray:
    """For each event at ``times`` (< t): integral of phi(s - t_i) * K(s) ds, K the
    triangular weight that is 1 at t and 0 at t - window."""
    slope = 1.0 / window
    lo = np.maximum(times, t - window)
    hi = np.full_like(times, t)
    knee = times + S0
    out = np.zeros_like(times)
    flat = lo < np.minimum(hi, knee)
    out[flat] += _flat_part(lo[flat], np.minimum(hi, knee)[flat], t, slope)
    tail = np.maximum(lo, knee) < hi
    out[tail] += _tail_part(np.maximum(lo, knee)[tail], hi[tail], t, slope, times[tail])
    return out


@dataclass(frozen=True, slots=True)
class Infectiousness:
    p: float
    low: float  # 95% interval
    high: float
    window: float  # seconds of history the estimate weighs


def infectiousness(times: np.ndarray, followers: np.ndarray, t: float) -> Infectiousness:
    """Local estimate of p at time ``t`` from events strictly before ``t``.
    ``times`` must be sorted, ``times[0]`` the original post."""
    return infectiousness_weighted(times, followers, times[1:], np.ones(len(times) - 1), t, float(times[0]))


def infectiousness_weighted(
    exp_t: np.ndarray, exp_n: np.ndarray, rep_t: np.ndarray, rep_c: np.ndarray, t: float, root_t: float = 0.0
) -> Infectiousness:
    """The same estimate from weighted pseudo-events: exposure ``exp_n`` followers at
    ``exp_t`` (the original post included) and ``rep_c`` reposts at ``rep_t``. With one
    event per row and unit counts it is exactly the per-event estimate; a bounded
    summary of a cascade (:mod:`.sketch`) passes one row per time bin."""
    if t <= 0 or not np.any(exp_t < t):
        return Infectiousness(0.0, 0.0, 0.0, 0.0)
    window = min(max(t / 2, MIN_WINDOW), MAX_WINDOW)
    # Counting events, the original post is one.
    ev_t = np.concatenate([[root_t], rep_t])
    ev_c = np.concatenate([[1.0], rep_c])
    order = np.argsort(ev_t, kind="stable")
    ev_t, ev_c = ev_t[order], ev_c[order]
    before = ev_t < t
    if float(ev_c[before & (ev_t >= t - window)].sum()) < MIN_COUNT:
        # Too few recent events for a stable rate: reach back to the last few.
        back = np.cumsum(ev_c[before][::-1])
        i = int(np.searchsorted(back, MIN_COUNT + 1, side="left"))
        window = t - float(ev_t[before][::-1][min(i, len(back) - 1)])
    past = exp_t < t
    exposure = float(np.dot(exp_n[past], weighted_exposure(exp_t[past], t, window)))
    recent = (rep_t < t) & (rep_t >= t - window)
    weighted_count = float(np.dot(rep_c[recent], (rep_t[recent] - t) / window + 1))
    if weighted_count <= 0 or exposure <= 0:
        return Infectiousness(0.0, 0.0, 0.0, window)
    p = weighted_count / exposure
    low, high = _chi2_interval(round(float(rep_c[recent].sum())))
    return Infectiousness(p, p * low, p * high, window)


def prepare() -> None:
    """Import what the intervals need now: scipy.stats takes about a second to import,
    which the first forecast of a running worker should not wait for."""
    _chi2_interval(1)


@functools.lru_cache(maxsize=4096)
def _chi2_interval(n: int) -> tuple[float, float]:
    from scipy.stats import chi2  # type: ignore[import-untyped]

    return float(chi2.ppf(0.05, 2 * n) / (2 * n)), float(chi2.ppf(0.95, 2 * n) / (2 * n))


@dataclass(frozen=True, slots=True)
class Prediction:
    t: float  # observation time, seconds after the original post
    reposts: int  # seen by t
    final: float  # predicted final reposts (inf: supercritical)
    low: float  # from the interval of p
    high: float
    p: float
    remaining_exposure: float  # sum of n_i * (1 - Phi(t - t_i)): followers yet to react

    @property
    def supercritical(self) -> bool:
        return math.isinf(self.final)


def _final(reposts: int, p: float, remaining: float, n_star: float) -> float:
    if p * n_star >= 1:
        return math.inf
    return reposts + p * remaining / (1 - p * n_star)


def predict(
    times: Sequence[float] | np.ndarray, followers: Sequence[float] | np.ndarray, t: float, n_star: float = N_STAR
) -> Prediction:
    """SEISMIC's final-size prediction from the events up to ``t``."""
    ts = np.asarray(times, dtype=float)
    fs = np.asarray(followers, dtype=float)
    order = np.argsort(ts, kind="stable")
    ts, fs = ts[order], fs[order]
    seen = int(np.searchsorted(ts, t, side="right"))
    return predict_weighted(ts[:seen], fs[:seen], ts[1:seen], np.ones(max(seen - 1, 0)), t, n_star, float(ts[0]))


def predict_weighted(
    exp_t: np.ndarray,
    exp_n: np.ndarray,
    rep_t: np.ndarray,
    rep_c: np.ndarray,
    t: float,
    n_star: float = N_STAR,
    root_t: float = 0.0,
) -> Prediction:
    """:func:`predict` from weighted pseudo-events seen by ``t`` (see
    :func:`infectiousness_weighted`)."""
    reposts = round(float(rep_c.sum()))
    inf = infectiousness_weighted(exp_t, exp_n, rep_t, rep_c, t, root_t)
    remaining = float(np.dot(exp_n, kernel_ccdf(t - exp_t)))
    return Prediction(
        t=t,
        reposts=reposts,
        final=_final(reposts, inf.p, remaining, n_star),
        low=_final(reposts, inf.low, remaining, n_star),
        high=_final(reposts, inf.high, remaining, n_star),
        p=inf.p,
        remaining_exposure=remaining,
    )


_TAIL_A = C * S0 ** (1 + THETA)
_CCDF_TAIL = C * S0 ** (1 + THETA) / THETA


def predict_rows(
    exp_t: Sequence[float],
    exp_n: Sequence[float],
    rep_t: Sequence[float],
    rep_c: Sequence[float],
    t: float,
    n_star: float = N_STAR,
    root_t: float = 0.0,
) -> Prediction:
    """:func:`predict_weighted` in plain Python, for a few rows (a sketch's bins): the
    forecast of a hot cascade runs every few reposts, and numpy's cost per call made it
    the largest part of a repost's work. Same figures (tests/reach/test_seismic.py)."""
    reposts = round(sum(rep_c))
    p = low = high = 0.0
    if t > 0 and any(x < t for x in exp_t):
        p, low, high = _infectiousness_rows(exp_t, exp_n, rep_t, rep_c, t, root_t)
    remaining = 0.0
    for ti, n in zip(exp_t, exp_n, strict=True):
        s = max(t - ti, 0.0)
        remaining += n * (1.0 - C * s if s <= S0 else _CCDF_TAIL * s**-THETA)
    return Prediction(
        t=t,
        reposts=reposts,
        final=_final(reposts, p, remaining, n_star),
        low=_final(reposts, low, remaining, n_star),
        high=_final(reposts, high, remaining, n_star),
        p=p,
        remaining_exposure=remaining,
    )


def _infectiousness_rows(
    exp_t: Sequence[float],
    exp_n: Sequence[float],
    rep_t: Sequence[float],
    rep_c: Sequence[float],
    t: float,
    root_t: float,
) -> tuple[float, float, float]:
    window = min(max(t / 2, MIN_WINDOW), MAX_WINDOW)
    events = sorted(zip([root_t, *rep_t], [1.0, *rep_c], strict=True), key=lambda e: e[0])
    before = [e for e in events if e[0] < t]
    if sum(c for et, c in before if et >= t - window) < MIN_COUNT:
        back, start = 0.0, before[0][0]
        for et, c in reversed(before):
            back += c
            start = et
            if back >= MIN_COUNT + 1:
                break
        window = t - start
    # weighted_exposure's integrals per row; u ** (1 - theta) as u * u ** -theta.
    slope, begin, theta, a = 1.0 / window, t - window, THETA, _TAIL_A
    flat_t = C * (t + slope * (t * t / 2 - t * t))
    exposure = 0.0
    for ti, n in zip(exp_t, exp_n, strict=True):
        if ti >= t:
            continue
        lo = ti if ti > begin else begin
        knee = ti + S0
        e = 0.0
        if lo < knee:
            mid = knee if knee < t else t
            f_mid = flat_t if mid == t else C * (mid + slope * (mid * mid / 2 - t * mid))
            e = f_mid - C * (lo + slope * (lo * lo / 2 - t * lo))
        if knee < t:
            b = 1 + slope * (ti - t)
            hi_u, lo_u = t - ti, (lo if lo > knee else knee) - ti
            hi_p, lo_p = hi_u**-theta, lo_u**-theta
            e += a * (slope * hi_u * hi_p / (1 - theta) - b * hi_p / theta)
            e -= a * (slope * lo_u * lo_p / (1 - theta) - b * lo_p / theta)
        exposure += n * e
    weighted_count = count = 0.0
    for rt, c in zip(rep_t, rep_c, strict=True):
        if begin <= rt < t:
            weighted_count += c * ((rt - t) / window + 1)
            count += c
    if weighted_count <= 0 or exposure <= 0:
        return 0.0, 0.0, 0.0
    p = weighted_count / exposure
    lo_f, hi_f = _chi2_interval(round(count))
    return p, p * lo_f, p * hi_f
