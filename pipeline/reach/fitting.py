"""Fitting the reach forecast (:class:`pipeline.reach.forecast.Forecaster`) on cascades.

Training rows are snapshots of each cascade (and of thinned copies of it) at the fitted
observation times, with the true final size and potential reach. Several cascade sets
(one per dataset) are weighted equally, so a thousand small cascades do not drown
seventy-five big ones, nor the other way round.

The fit, in three steps:

1. The candidates: the model (trees for fewer than :data:`SMALL_BELOW` reposts seen,
   the formula-and-trees correction of SEISMIC from there), SEISMIC itself and no
   further growth.
2. The gate: a 3-fold split of the training cascades fits the candidates on two folds
   and predicts the third, and per regime the candidate with the lowest mean APE on
   those held-out predictions is chosen, separately for the final size and for the
   final potential reach. The candidates are then fitted on all the training rows.
3. The interval: per regime, the bounds on the chosen forecast's held-out log error
   that hold 80% of it (:func:`interval`), so the interval is judged on cascades it
   did not see.

Only the unthinned rows choose the gate and the interval: they are what the forecast
is judged on. Nothing here reads a test fold: ``flashpoint reach evaluate --cv`` calls
:func:`fit` on each fold's training cascades only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pipeline.reach import seismic
from pipeline.reach.forecast import (
    BANDS,
    BIG_FROM,
    CANDIDATES,
    FIT_TIMES,
    SMALL_BELOW,
    THINNING,
    TREE_COUNT,
    Cascade,
    Forecaster,
    Snapshot,
    Trees,
)

# Fewer held-out rows than this in a regime: its interval takes in the next bands too.
INTERVAL_MIN_ROWS = 30
COVERAGE = 0.8
# A dataset with fewer (effective) rows than this in an interval's pool does not set it.
MIN_GROUP_ROWS = 10
INNER_FOLDS = 3
SIMPLEST_FIRST = ("no_growth", "seismic", "model")


@dataclass
class Rows:
    """Training rows, column by column."""

    snaps: list[Snapshot]
    t: np.ndarray
    r: np.ndarray
    final: np.ndarray
    reach: np.ndarray  # the cascade's final potential reach
    reach_now: np.ndarray
    repost_followers: np.ndarray
    weight: np.ndarray
    cascade: np.ndarray  # an index per cascade, shared by its thinned copies
    dataset: np.ndarray  # which of the sets the cascade came from
    original: np.ndarray  # not a thinned copy

    def take(self, mask: np.ndarray) -> Rows:
        idx = np.flatnonzero(mask)
        return Rows(
            [self.snaps[i] for i in idx],
            *(getattr(self, k)[idx] for k in _COLUMNS),
        )

    def __len__(self) -> int:
        return len(self.snaps)


_COLUMNS = ("t", "r", "final", "reach", "reach_now", "repost_followers", "weight", "cascade", "dataset", "original")


def rows(sets: Sequence[Sequence[Cascade]], times: Sequence[float] = FIT_TIMES, seed: int = 0) -> Rows:
    """Snapshots of every cascade of every set, and of its thinned copies, at ``times``.
    Each set's rows weigh as much in total as another's."""
    rng = np.random.default_rng(seed)
    snaps: list[Snapshot] = []
    cols: dict[str, list[float]] = {k: [] for k in _COLUMNS}
    index = 0
    for number, cascades in enumerate(sets):
        start = len(snaps)
        for c in cascades:
            for keep in THINNING:
                x = c if keep == 1.0 else c.thinned(keep, rng)
                if x.final == 0:
                    continue
                total = float(x.followers.sum())
                for t in times:
                    s = Snapshot.of(x, t)
                    now = float(x.followers[x.times <= t].sum())
                    snaps.append(s)
                    for k, v in (
                        ("t", float(t)),
                        ("r", float(s.reposts)),
                        ("final", float(x.final)),
                        ("reach", total),
                        ("reach_now", now),
                        ("repost_followers", now - float(x.followers[0])),
                        ("weight", 0.0),
                        ("cascade", float(index)),
                        ("dataset", float(number)),
                        ("original", float(keep == 1.0)),
                    ):
                        cols[k].append(v)
            index += 1
        n = len(snaps) - start
        cols["weight"][start:] = [1.0 / n] * n if n else []
    arrays = {k: np.asarray(v, dtype=float) for k, v in cols.items()}
    if len(snaps):
        arrays["weight"] *= len(snaps) / arrays["weight"].sum()
    arrays["cascade"] = arrays["cascade"].astype(int)
    arrays["dataset"] = arrays["dataset"].astype(int)
    arrays["original"] = arrays["original"].astype(bool)
    return Rows(snaps, **arrays)


def fit(
    sets: Sequence[Sequence[Cascade]],
    times: Sequence[float] = FIT_TIMES,
    seed: int = 0,
    name: str = "",
) -> Forecaster:
    """The forecast fitted on ``sets`` (each a dataset's cascades)."""
    return fit_rows(rows(sets, times, seed), times, seed=seed, name=name)


def cross_fits(
    cascades: Sequence[Cascade],
    cv: int,
    *,
    seed: int = 0,
    train_also: Sequence[Cascade] = (),
    times: Sequence[float] = FIT_TIMES,
) -> tuple[np.ndarray, list[Forecaster]]:
    """Each cascade's fold (``cv`` of them, by ``seed``) and each fold's forecast, fitted
    on the other folds plus ``train_also``: what held-out evaluation judges with."""
    fold = np.random.default_rng(seed).permutation(len(cascades)) % cv
    # Each cascade's snapshots once; a fold's fit takes the rows of its cascades (the
    # judged ones are numbered first, then train_also).
    training = rows([cascades, train_also], times, seed)
    models = []
    for k in range(cv):
        keep = np.concatenate([fold != k, np.ones(len(train_also), dtype=bool)])
        models.append(fit_rows(training.take(keep[training.cascade]), times, seed=seed))
    return fold, models


@dataclass
class _Parts:
    """The candidates' fitted parameters."""

    a: list[float]
    b: list[float]
    trees: Trees | None
    small: Trees | None


def fit_rows(data: Rows, times: Sequence[float], *, seed: int = 0, name: str = "") -> Forecaster:
    if not len(data):
        raise ValueError("no training rows: the cascades need reposts")
    times = [float(t) for t in times]
    rng = np.random.default_rng(seed)
    cascades = np.unique(data.cascade)
    fold_of = dict(zip(cascades.tolist(), (rng.permutation(len(cascades)) % INNER_FOLDS).tolist(), strict=True))
    fold = np.array([fold_of[c] for c in data.cascade.tolist()])
    # Held-out predictions of every candidate on the unthinned rows.
    judged = data.original
    held: dict[str, np.ndarray] = {c: np.full(len(data), np.nan) for c in CANDIDATES}
    for k in range(INNER_FOLDS):
        train, test = data.take(fold != k), judged & (fold == k)
        if not len(train) or not test.any():
            continue
        model = _forecaster(_fit_parts(train, times), times)
        for i in np.flatnonzero(test):
            for c, v in model.candidates(data.snaps[i]).items():
                held[c][i] = v
    size_gate, reach_gate, q10, q90 = _gate(data, held, times)
    return _forecaster(_fit_parts(data, times), times, size_gate, reach_gate, q10, q90, name)


def _forecaster(
    parts: _Parts,
    times: list[float],
    size_gate: list[list[str]] | None = None,
    reach_gate: list[list[str]] | None = None,
    q10: list[list[float]] | None = None,
    q90: list[list[float]] | None = None,
    name: str = "",
) -> Forecaster:
    grid = [["model"] * len(BANDS) for _ in times]
    zeros = [[0.0] * len(BANDS) for _ in times]
    return Forecaster(
        times=times,
        a=parts.a,
        b=parts.b,
        trees=parts.trees,
        small=parts.small,
        size_gate=size_gate or grid,
        reach_gate=reach_gate or [list(g) for g in grid],
        q10=q10 or zeros,
        q90=q90 or [list(z) for z in zeros],
        trained_on=name,
    )


def _regime(data: Rows, times: list[float]) -> tuple[np.ndarray, np.ndarray]:
    ti = np.array([times.index(float(t)) for t in data.t])
    band = np.searchsorted(np.asarray(BANDS, dtype=float), data.r, side="right") - 1
    return ti, band


def _gate(
    data: Rows, held: dict[str, np.ndarray], times: list[float]
) -> tuple[list[list[str]], list[list[str]], list[list[float]], list[list[float]]]:
    ti, band = _regime(data, times)
    ok = data.original & ~np.isnan(held["model"])
    size_gate, reach_gate, q10, q90 = [], [], [], []
    for i in range(len(times)):
        sizes, reaches, lows, highs = [], [], [], []
        at_t = ok & (ti == i)
        for j in range(len(BANDS)):
            m = at_t & (band == j)
            size = _best(m, data, held, lambda p, m=m: np.abs(p - data.final[m]) / data.final[m])
            reach = _best(m, data, held, lambda p, m=m: np.abs(_reach(data, m, p) - data.reach[m]) / data.reach[m])
            sizes.append(size)
            reaches.append(reach)
            # The interval around the chosen size forecast, from its held-out errors.
            pool = _interval_pool(at_t, band, j)
            if pool.any():
                pred = np.maximum(held[size][pool], data.r[pool])
                pred = np.where(np.isfinite(pred), pred, held["model"][pool])
                resid = np.log((data.final[pool] + 1) / (pred + 1))
                low, high = interval(resid, data.weight[pool], data.dataset[pool])
                lows.append(low)
                highs.append(high)
            else:
                lows.append(0.0)
                highs.append(0.0)
        size_gate.append(sizes)
        reach_gate.append(reaches)
        q10.append(lows)
        q90.append(highs)
    return size_gate, reach_gate, q10, q90


def _interval_pool(at_t: np.ndarray, band: np.ndarray, j: int) -> np.ndarray:
    """The rows of band ``j``, widened to the neighbouring bands until there are
    :data:`INTERVAL_MIN_ROWS`: a big cascade's errors are not a small one's, and pooling
    a thin band of TiDeH's with the whole time let auspol's piled-up errors set it."""
    low = high = j
    pool: np.ndarray = at_t & (band == j)
    while np.count_nonzero(pool) < INTERVAL_MIN_ROWS and (low > 0 or high < len(BANDS) - 1):
        low, high = max(low - 1, 0), min(high + 1, len(BANDS) - 1)
        pool = at_t & (band >= low) & (band <= high)
    return pool


def _reach(data: Rows, m: np.ndarray, final: np.ndarray) -> np.ndarray:
    """:func:`pipeline.reach.forecast.final_reach`, row by row."""
    mean = (data.repost_followers[m] + seismic.N_STAR) / (data.r[m] + 1)
    return np.asarray(data.reach_now[m] + np.maximum(final - data.r[m], 0.0) * mean)


def _best(m: np.ndarray, data: Rows, held: dict[str, np.ndarray], ape: object) -> str:
    """The candidate with the lowest weighted mean APE on the rows ``m`` (the model where
    there are none; an infinite forecast, SEISMIC's supercritical one, never wins)."""
    if not m.any():
        return "model"
    w = data.weight[m]
    scores = {}
    for c in CANDIDATES:
        pred = np.maximum(held[c][m], data.r[m])
        err = ape(pred)  # type: ignore[operator]
        scores[c] = float(np.sum(w * err) / np.sum(w)) if np.all(np.isfinite(err)) else math.inf
    # Ties go to the simplest: it has the least to get wrong on cascades unlike these.
    return min(SIMPLEST_FIRST, key=lambda c: scores[c])


def interval(
    resid: np.ndarray, weight: np.ndarray, group: np.ndarray | None = None, coverage: float = COVERAGE
) -> tuple[float, float]:
    """The bounds (low <= 0 <= high, in log error) whose weighted share of ``resid`` is
    nearest ``coverage`` in the least covered ``group`` (dataset); among those, the one
    with the most even tails, then the narrowest.

    Not the 10th and 90th percentiles: final sizes are whole numbers, and a small
    cascade's errors pile up on a few values (stopped where it was, one more repost).
    A percentile lands on such a pile and the interval holds all of it, so on small
    cascades the "80%" interval held 89-94%. And not the pooled share: where both kinds
    of cascade meet (a hundred reposts at an hour), the small ones' errors made the
    interval too narrow for the big ones' slow starters
    (docs/decisions/2026-12-07-reach-interval.md).
    """
    group = np.zeros(len(resid), dtype=int) if group is None else group
    v, inverse = np.unique(np.append(resid, 0.0), return_inverse=True)
    shares = []
    for g in np.unique(group):
        w = np.where(group == g, weight, 0.0)
        # Split-conformal's finite-sample step: the held-out errors of n rows cover a new
        # one (n + 1) / n times less often than themselves (n: the effective number).
        n = float(w.sum()) ** 2 / max(float(np.sum(w**2)), 1e-300)
        if n < MIN_GROUP_ROWS:
            continue
        mass = np.bincount(inverse, weights=np.append(w, 0.0)) / w.sum()
        shares.append((np.concatenate([[0.0], np.cumsum(mass)]), min(coverage * (n + 1) / n, 1.0)))
    if not shares:
        return 0.0, 0.0
    # A tail holding well over the whole miss is never a candidate: that bounds the search.
    most = 1.0 - coverage + 0.05
    lo = np.flatnonzero((v <= 0) & np.all([b[:-1] <= most for b, _ in shares], axis=0))
    hi = np.flatnonzero((v >= 0) & np.all([1.0 - b[1:] <= most for b, _ in shares], axis=0))
    if not len(lo) or not len(hi):
        return 0.0, 0.0
    # Per group, how far its share inside is from its target (before[k]: the share below v[k]).
    gaps = [(b[hi + 1][None, :] - b[lo][:, None]) - c for b, c in shares]
    worst = np.min(gaps, axis=0)  # the least covered group, relative to its target
    below = np.max([b[lo] for b, _ in shares], axis=0)[:, None]
    above = np.max([1.0 - b[hi + 1] for b, _ in shares], axis=0)[None, :]
    width = v[hi][None, :] - v[lo][:, None]
    # Shares within half a point of each other count as equally near.
    near = np.round(np.abs(worst) * 200).ravel()
    order = np.lexsort((width.ravel(), np.abs(below - above).ravel(), near))
    i, j = np.unravel_index(order[0], worst.shape)
    # The bounds are the errors themselves: a margin keeps a whole-number final size that
    # sits on a bound inside it after the round trip through exp and log.
    return float(v[lo[i]]) - 1e-9, float(v[hi[j]]) + 1e-9


def _fit_parts(data: Rows, times: list[float]) -> _Parts:
    small = data.take(data.r < SMALL_BELOW)
    big = data.take(data.r >= BIG_FROM)
    if len(big) < 50:  # too few big cascades to learn from: the formula and trees see all
        big = data
    a, b = _fit_formula(big, times)
    return _Parts(a, b, _fit_big_trees(big), _fit_small_trees(small))


def _gbr(start: float | None = None) -> object:
    from sklearn.dummy import DummyRegressor
    from sklearn.ensemble import GradientBoostingRegressor

    return GradientBoostingRegressor(
        init=None if start is None else DummyRegressor(strategy="constant", constant=start),
        loss="absolute_error",
        n_estimators=TREE_COUNT,
        max_depth=3,
        learning_rate=0.05,
        subsample=0.8,
        min_samples_leaf=20,
        random_state=0,
    )


def _fit_small_trees(data: Rows) -> Trees | None:
    """Trees predicting (final + 1) / (R + 1) under absolute error weighted by
    (R + 1) / final: that loss is the APE of the size forecast itself."""
    if len(data) < 40:
        return None
    x = np.array([s.small_vector() for s in data.snaps])
    # Not sklearn's start, the weighted median: that is exactly 1 (no growth), the
    # target of most rows, and absolute error's gradient is the same for a row at the
    # start as for one above it. With every row's gradient equal the trees never split,
    # and the model stayed at "no growth" everywhere. Just above 1 they differ.
    gb = _gbr(start=1.0 + 1e-3)
    gb.fit(x, (data.final + 1) / (data.r + 1), sample_weight=data.weight * (data.r + 1) / data.final)  # type: ignore[attr-defined]
    return Trees.from_sklearn(gb)


def _fit_big_trees(data: Rows) -> Trees | None:
    if len(data) < 40:
        return None
    x = np.array([s.vector() for s in data.snaps])
    r, y, w = data.r, data.final, data.weight
    gb = _gbr()
    gb.fit(x, np.log(y / (r + 1)), sample_weight=w)  # type: ignore[attr-defined]
    # The median of log(final / R) over-predicts in percentage terms (an over-estimate
    # can be off by more than 100%, an under-estimate cannot): shift it to the APE optimum.
    raw = gb.predict(x)  # type: ignore[attr-defined]
    shift = min(
        np.linspace(-0.5, 0.3, 81),
        key=lambda d: float(np.sum(w * np.abs(np.maximum(np.exp(raw + d) * (r + 1), r) - y) / y)),
    )
    return Trees.from_sklearn(gb, float(shift))


def _fit_formula(data: Rows, times: list[float]) -> tuple[list[float], list[float]]:
    """Per observation time, the (a, b) of ``R + exp(a) (R + 1)^b F^(1 - b)`` with the
    lowest weighted mean APE."""
    from scipy.optimize import minimize  # type: ignore[import-untyped]

    a, b = [], []
    f_all = np.array([s.first_generation for s in data.snaps])
    for t in times:
        m = data.t == t
        if not m.any():
            a.append(0.0)
            b.append(0.5)
            continue
        r, f, y, w = data.r[m], np.maximum(f_all[m], 1e-3), data.final[m], data.weight[m]

        def loss(
            theta: np.ndarray, r: np.ndarray = r, f: np.ndarray = f, y: np.ndarray = y, w: np.ndarray = w
        ) -> float:
            # The simplex tries extreme (a, b) on small cascades: overflow there is a
            # bad fit, not an error, and NaN would mislead the simplex's comparisons.
            with np.errstate(over="ignore", invalid="ignore"):
                v = float(np.sum(w * np.abs(r + np.exp(theta[0]) * (r + 1) ** theta[1] * f ** (1 - theta[1]) - y) / y))
            return v / float(w.sum()) if math.isfinite(v) else math.inf

        opts = {"xatol": 1e-4, "fatol": 1e-7}
        starts = ([0.0, 0.5], [0.5, 0.0])
        best = min((minimize(loss, x0, method="Nelder-Mead", options=opts) for x0 in starts), key=lambda res: res.fun)
        # b outside [0, 1] would let the forecast shrink as a cascade grows.
        a.append(float(best.x[0]))
        b.append(float(np.clip(best.x[1], 0.0, 1.0)))
    return a, b
