"""Flashpoint's forecast of a cascade's final size: SEISMIC, corrected by what it misses.

SEISMIC's own forecast is reposts so far, R, plus the reposts still owed by the
exposure seen so far, F = p * (follower-weighted remaining kernel mass), scaled up by
the branching factor. On real cascades it is biased low early on (the crowd keeps
reacting longer than the kernel says) and its branching factor swings with noisy
estimates of p. The forecast here is the geometric mean of two corrections, each
fitted to minimise the absolute percentage error:

1. a formula, fitted per observation time t (as the SEISMIC paper corrects its own
   predictor per t): ``R + exp(a_t) * (R + 1) ** b_t * F ** (1 - b_t)``;
2. gradient-boosted trees (300 trees of depth 3) on scale-free features of the cascade
   so far: F / R, SEISMIC's branching ratio p * n*, the share of reposts in the last
   half and quarter of the time observed, the recent reposters' followers against all
   reposters', the author's against the reposters', and log t. They predict
   log(final / (R + 1)).

Neither sees the cascade's size itself, only ratios, so the forecast grows in
proportion to the cascade and does not learn "cascades are large" from a training set
of large ones. Both are fitted on thinned copies of the training cascades too (each
repost kept with probability 0.2, 0.05, 0.02 or 0.01), so they are trained on small
cascades' noise. The interval is the 10th and 90th percentile of log(true / forecast)
on the training rows at that t.

Parameters ship in ``models/reach/forecast.json`` (written by ``flashpoint reach fit``;
the trees as plain arrays, evaluated here with numpy) and are interpolated linearly in
log t between the fitted observation times.
"""

from __future__ import annotations

import bisect
import csv
import gzip
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.reach import seismic
from pipeline.reach.seismic import Prediction
from pipeline.reach.sketch import ArrivalSketch

FIT_TIMES = (300.0, 600.0, 1200.0, 1800.0, 3600.0, 7200.0, 14_400.0, 21_600.0, 43_200.0, 86_400.0)
THINNING = (1.0, 0.2, 0.05, 0.05, 0.02, 0.02, 0.01, 0.01)
TREE_COUNT = 300
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
class Snapshot:
    """What the forecast sees of a cascade at observation time t: from its events
    (:meth:`of`) or from its bounded sketch in the stream (:meth:`of_sketch`)."""

    t: float
    reposts: int  # R
    first_generation: float  # F = p * remaining exposure
    p: float
    recent_half: float  # reposts in (t/2, t], over R + 1
    recent_quarter: float  # reposts in (3t/4, t], over R + 1
    followers_recent: float  # mean followers of reposters in (t/2, t]
    followers_all: float  # mean followers of all reposters so far
    root_followers: float
    seismic: Prediction

    @classmethod
    def of(cls, c: Cascade, t: float) -> Snapshot:
        s = seismic.predict(c.times, c.followers, t)
        seen = c.times[1:] <= t
        times, followers = c.times[1:][seen], c.followers[1:][seen]
        return cls._build(s, t, times, np.ones(len(times)), followers, float(c.followers[0]))

    @classmethod
    def of_sketch(cls, sketch: ArrivalSketch, at: float) -> Snapshot:
        # Plain Python on the sketch's few rows: :meth:`_build`'s numpy, per call, cost
        # more than the arithmetic (the forecast runs every few reposts of a hot cascade).
        exp_t, exp_n, rep_t, rep_c = sketch.rows()
        t = sketch.age(at)
        s = seismic.predict_rows(exp_t, exp_n, rep_t, rep_c, t)
        r = half = quarter = f_half = f_all = 0.0
        for rt, c, n in zip(rep_t, rep_c, exp_n[1:], strict=True):
            r += c
            f_all += n
            if rt > t / 2:
                half += c
                f_half += n
                if rt > 3 * t / 4:
                    quarter += c
        return cls(
            t=t,
            reposts=s.reposts,
            first_generation=s.p * s.remaining_exposure,
            p=s.p,
            recent_half=half / (r + 1),
            recent_quarter=quarter / (r + 1),
            followers_recent=f_half / half if half else 0.0,
            followers_all=f_all / r if r else 0.0,
            root_followers=sketch.root_followers,
            seismic=s,
        )

    @classmethod
    def _build(
        cls, s: Prediction, t: float, times: np.ndarray, counts: np.ndarray, followers: np.ndarray, root: float
    ) -> Snapshot:
        # ``followers`` are sums per row (one row per event, or per sketch bin).
        r = float(counts.sum())
        half, quarter = times > t / 2, times > 3 * t / 4
        return cls(
            t=t,
            reposts=s.reposts,
            first_generation=s.p * s.remaining_exposure,
            p=s.p,
            recent_half=float(counts[half].sum()) / (r + 1),
            recent_quarter=float(counts[quarter].sum()) / (r + 1),
            followers_recent=float(followers[half].sum() / counts[half].sum()) if counts[half].sum() else 0.0,
            followers_all=float(followers.sum() / r) if r else 0.0,
            root_followers=root,
            seismic=s,
        )

    def vector(self) -> list[float]:
        """The trees' features, in :data:`TREE_FEATURES` order."""
        return [
            math.log((self.first_generation + 1) / (self.reposts + 1)),
            math.log(self.p * seismic.N_STAR + 1e-4),
            self.recent_half,
            self.recent_quarter,
            math.log((self.followers_recent + 1) / (self.followers_all + 1)),
            math.log(self.root_followers + 1) - math.log(self.followers_all + 1),
            math.log(max(self.t, 1.0)),
        ]


TREE_FEATURES = (
    "log((F + 1) / (R + 1))",
    "log(p * n* + 1e-4)",
    "share of reposts in the last half",
    "share of reposts in the last quarter",
    "log(recent reposters' mean followers / all reposters')",
    "log(author's followers / reposters' mean)",
    "log t",
)


@dataclass
class Trees:
    """A boosted regression-tree ensemble as arrays: per tree and node, the feature
    (-1 at a leaf), threshold, children and value. Prediction is ``base + rate * sum``
    of the leaves reached."""

    base: float
    rate: float
    feature: list[list[int]]
    threshold: list[list[float]]
    left: list[list[int]]
    right: list[list[int]]
    value: list[list[float]]

    def __post_init__(self) -> None:
        # All trees' nodes in flat arrays, a leaf pointing to itself: every row then walks
        # the same number of steps (the deepest tree's depth), with no test for leaves.
        # Per forecast this took a third of the time of the loop it replaced.
        offsets = np.cumsum([0] + [len(f) for f in self.feature[:-1]])
        feature = np.concatenate([np.asarray(f, dtype=np.intp) for f in self.feature])
        leaf = feature < 0
        own = np.arange(len(feature))
        at = np.repeat(offsets, [len(f) for f in self.feature])
        left = np.concatenate([np.asarray(x, dtype=np.intp) for x in self.left]) + at
        right = np.concatenate([np.asarray(x, dtype=np.intp) for x in self.right]) + at
        self._roots = offsets.astype(np.intp)
        self._f = np.where(leaf, 0, feature)
        self._thr = np.concatenate([np.asarray(t, dtype=float) for t in self.threshold])
        self._l = np.where(leaf, own, left)
        self._r = np.where(leaf, own, right)
        self._v = np.concatenate([np.asarray(v, dtype=float) for v in self.value])
        self._depth = max(_depth(f, lt, rt) for f, lt, rt in zip(self.feature, self.left, self.right, strict=True))
        self._lookup = self._leaf_tables() if self._depth <= _LOOKUP_DEPTH else None

    def _leaf_tables(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        # Shallow trees (the shipped ones are depth 3) laid out as complete trees of 7
        # tests: a row's 7 test results per tree, read as a number, index a table of the
        # leaf reached. One pass of array operations instead of one per level: a third
        # of the time per forecast.
        tests = 2**_LOOKUP_DEPTH - 1
        n = len(self.feature)
        feat = np.zeros((n, tests), dtype=np.intp)
        thr = np.full((n, tests), np.inf)
        table = np.zeros((n, 2**tests))
        for i, (f, th, lt, rt, v) in enumerate(
            zip(self.feature, self.threshold, self.left, self.right, self.value, strict=True)
        ):
            at: dict[int, int] = {0: 0}  # position in the complete tree -> node
            for pos in range(tests):
                node = at.get(pos)
                if node is not None and f[node] >= 0:
                    feat[i, pos], thr[i, pos] = f[node], th[node]
                    at[2 * pos + 1], at[2 * pos + 2] = lt[node], rt[node]
            for code in range(2**tests):
                node, pos = 0, 0
                while f[node] >= 0:
                    go_left = (code >> pos) & 1
                    node, pos = (lt[node], 2 * pos + 1) if go_left else (rt[node], 2 * pos + 2)
                table[i, code] = v[node]
        offsets = np.arange(n, dtype=np.intp) * 2**tests
        return feat, thr, table.ravel(), offsets

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Rows of features -> predictions."""
        x = np.atleast_2d(x)
        if len(x) == 1 and self._lookup is not None:  # the stream's case
            feat, thr, table, offsets = self._lookup
            code = (x[0][feat] <= thr) @ _BITS
            return np.asarray([self.base + self.rate * table[code + offsets].sum()])
        if len(x) == 1:  # plain indexing, without take_along_axis's overhead
            row, one = x[0], self._roots
            for _ in range(self._depth):
                one = np.where(row[self._f[one]] <= self._thr[one], self._l[one], self._r[one])
            return np.asarray([self.base + self.rate * self._v[one].sum()])
        node = np.broadcast_to(self._roots, (len(x), len(self._roots)))
        for _ in range(self._depth):
            go_left = np.take_along_axis(x, self._f[node], axis=1) <= self._thr[node]
            node = np.where(go_left, self._l[node], self._r[node])
        return np.asarray(self.base + self.rate * self._v[node].sum(axis=1))

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("base", "rate", "feature", "threshold", "left", "right", "value")}

    @classmethod
    def from_sklearn(cls, gb: Any, shift: float = 0.0) -> Trees:
        """From a fitted ``GradientBoostingRegressor`` (its predictions plus ``shift``)."""
        trees = [e[0].tree_ for e in gb.estimators_]
        # The initial estimate is a constant (the median, for absolute error).
        base = float(np.ravel(gb.init_.predict(np.zeros((1, gb.n_features_in_))))[0])
        return cls(
            base=base + shift,
            rate=float(gb.learning_rate),
            feature=[[int(v) for v in t.feature] for t in trees],
            threshold=[[float(v) for v in t.threshold] for t in trees],
            left=[[int(v) for v in t.children_left] for t in trees],
            right=[[int(v) for v in t.children_right] for t in trees],
            value=[[float(v) for v in t.value[:, 0, 0]] for t in trees],
        )


_LOOKUP_DEPTH = 3
_BITS = 1 << np.arange(2**_LOOKUP_DEPTH - 1)


def _depth(feature: list[int], left: list[int], right: list[int], node: int = 0) -> int:
    """Steps from ``node`` to its deepest leaf."""
    if feature[node] < 0:
        return 0
    return 1 + max(_depth(feature, left, right, left[node]), _depth(feature, left, right, right[node]))


def at_log_time(times: Sequence[float], logs: Sequence[float], values: Sequence[float], t: float) -> float:
    """``values`` (one per time in ``times``, ``logs`` their logs) interpolated linearly
    in log t, the nearest one outside ``times``. np.interp's arithmetic in plain Python:
    four of these per forecast cost more than the rest of it on numpy's per-call overhead."""
    x = math.log(min(max(t, times[0]), times[-1]))
    j = bisect.bisect_right(logs, x) - 1
    if j >= len(logs) - 1:
        return float(values[-1])
    if x == logs[j]:
        return float(values[j])
    slope = (values[j + 1] - values[j]) / (logs[j + 1] - logs[j])
    return float(slope * (x - logs[j]) + values[j])


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
    trees: Trees | None = None
    trained_on: str = ""
    version: int = VERSION
    _logs: list[float] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._logs = [math.log(t) for t in self.times]

    def _at(self, values: list[float], t: float) -> float:
        return at_log_time(self.times, self._logs, values, t)

    def point(self, snap: Snapshot) -> float:
        # _formula and _from_trees for one snapshot, in plain Python (numpy's cost per
        # call on scalars was a tenth of a forecast).
        t, r = snap.t, float(snap.reposts)
        a, b = self._at(self.a, t), self._at(self.b, t)
        formula = float(r + math.exp(a) * (r + 1) ** b * max(snap.first_generation, 1e-3) ** (1 - b))
        if self.trees is None:
            return formula
        log_ratio = float(self.trees.predict(np.array([snap.vector()]))[0])
        return math.sqrt(formula * max(math.exp(log_ratio) * (r + 1), r))

    def predict(self, snap: Snapshot) -> Forecast:
        final = self.point(snap)
        lo, hi = final * math.exp(self._at(self.q10, snap.t)), final * math.exp(self._at(self.q90, snap.t))
        # The cascade will be at least as large as it is.
        r = snap.reposts
        return Forecast(snap.t, max(final, r), max(lo, r), max(hi, r))

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        d = {k: getattr(self, k) for k in ("version", "trained_on", "times", "a", "b", "q10", "q90")}
        d["tree_features"] = list(TREE_FEATURES)
        d["trees"] = self.trees.to_dict() if self.trees else None
        path.write_text(json.dumps(d, separators=(",", ":")) + "\n")

    @classmethod
    def load(cls, path: Path) -> Forecaster:
        d = json.loads(path.read_text())
        if d.get("version") != VERSION:
            raise ValueError(f"{path}: forecast version {d.get('version')}, this code reads {VERSION}")
        if d.get("trees") and d.get("tree_features") != list(TREE_FEATURES):
            raise ValueError(f"{path}: the trees were fitted on other features; refit with flashpoint reach fit")
        trees = Trees(**d["trees"]) if d.get("trees") else None
        keep = ("times", "a", "b", "q10", "q90", "trained_on", "version")
        seismic.prepare()
        return cls(trees=trees, **{k: d[k] for k in keep})


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


def _from_trees(reposts: float | np.ndarray, log_ratio: float | np.ndarray) -> np.ndarray:
    r = np.asarray(reposts, dtype=float)
    return np.asarray(np.maximum(np.exp(log_ratio) * (r + 1), r))


def snapshots(cascades: Iterable[Cascade], times: Sequence[float], seed: int) -> list[tuple[Snapshot, int]]:
    """(snapshot, true final) at each of ``times`` for each cascade and its thinned
    copies."""
    rng = np.random.default_rng(seed)
    out: list[tuple[Snapshot, int]] = []
    for c in cascades:
        for keep in THINNING:
            x = c if keep == 1.0 else c.thinned(keep, rng)
            if x.final == 0:
                continue
            out.extend((Snapshot.of(x, t), x.final) for t in times)
    return out


def _fit_trees(rows: list[tuple[Snapshot, int]]) -> Trees:
    from sklearn.ensemble import GradientBoostingRegressor

    x = np.array([s.vector() for s, _ in rows])
    r = np.array([s.reposts for s, _ in rows], dtype=float)
    y = np.array([f for _, f in rows], dtype=float)
    gb = GradientBoostingRegressor(
        loss="absolute_error",
        n_estimators=TREE_COUNT,
        max_depth=3,
        learning_rate=0.05,
        subsample=0.8,
        min_samples_leaf=20,
        random_state=0,
    )
    gb.fit(x, np.log(y / (r + 1)))
    # The median of log(final / R) over-predicts in percentage terms (an over-estimate
    # can be off by more than 100%, an under-estimate cannot): shift it to the APE optimum.
    raw = gb.predict(x)
    shift = min(
        np.linspace(-0.5, 0.3, 81),
        key=lambda d: float(np.mean(np.abs(_from_trees(r, raw + d) - y) / y)),
    )
    return Trees.from_sklearn(gb, float(shift))


def fit(cascades: Sequence[Cascade], times: Sequence[float] = FIT_TIMES, seed: int = 0, name: str = "") -> Forecaster:
    from scipy.optimize import minimize  # type: ignore[import-untyped]

    rows = snapshots(cascades, times, seed)
    trees = _fit_trees(rows)
    a, b = [], []
    for t in times:
        at = [(s, y) for s, y in rows if s.t == t]
        r = np.array([s.reposts for s, _ in at], dtype=float)
        f = np.array([s.first_generation for s, _ in at])
        y = np.array([y for _, y in at], dtype=float)

        def loss(theta: np.ndarray, r: np.ndarray = r, f: np.ndarray = f, y: np.ndarray = y) -> float:
            # The simplex tries extreme (a, b) on small cascades: overflow there is a
            # bad fit, not an error, and NaN would mislead the simplex's comparisons.
            with np.errstate(over="ignore", invalid="ignore"):
                v = float(np.mean(np.abs(_formula(r, f, theta[0], theta[1]) - y) / y))
            return v if math.isfinite(v) else math.inf

        opts = {"xatol": 1e-4, "fatol": 1e-7}
        starts = ([0.0, 0.5], [0.5, 0.0])
        best = min((minimize(loss, x0, method="Nelder-Mead", options=opts) for x0 in starts), key=lambda res: res.fun)
        # b outside [0, 1] would let the forecast shrink as a cascade grows.
        a.append(float(best.x[0]))
        b.append(float(np.clip(best.x[1], 0.0, 1.0)))
    model = Forecaster(list(map(float, times)), a, b, [0.0] * len(times), [0.0] * len(times), trees, name)
    for i, t in enumerate(times):
        resid = np.log([y / model.point(s) for s, y in rows if s.t == t])
        model.q10[i] = float(np.percentile(resid, 10))
        model.q90[i] = float(np.percentile(resid, 90))
    return model
