"""Flashpoint's forecast of a cascade's final size and potential reach.

Almost every complaint's cascade is small (a burst of a few reposts, then silence);
a few grow to thousands. One model does not serve both, so the forecast is a gate
between three candidates, chosen per regime: observation time t (the nearest fitted
one) and band of reposts seen R (:data:`BANDS`: 0, 1, 2-4, 5-19, 20-99, 100-499, 500+).

- **The model.** Below :data:`SMALL_BELOW` reposts: gradient-boosted trees (300 of
  depth 3) predicting (final + 1) / (R + 1) under an absolute error weighted by
  (R + 1) / final, which is the forecast's own absolute percentage error (APE), on the
  features below plus log(R + 1) and the share of the time observed since the last
  repost. From there: SEISMIC corrected by the geometric mean of a formula fitted per
  t, ``R + exp(a_t) * (R + 1) ** b_t * F ** (1 - b_t)`` (F: the reposts SEISMIC still
  expects from the exposure seen, p times the follower-weighted remaining kernel
  mass), and trees predicting log(final / (R + 1)) from scale-free features: F / R,
  SEISMIC's branching ratio p * n*, the share of reposts in the last half and quarter
  of the time observed, the recent reposters' followers against all reposters', the
  author's against the reposters', and log t. Those see ratios only, so a big
  cascade's forecast grows in proportion to it.
- **SEISMIC** as it is (the model stands in where it is supercritical).
- **No further growth**: final = R.

Which one a regime uses, for the final size and separately for the final potential
reach, is chosen by held-out error on the training cascades
(:mod:`pipeline.reach.fitting`), as is the 80% interval: the bounds that hold 80% of
the chosen forecast's held-out log((final + 1) / (forecast + 1)) in that regime.

Parameters ship in ``models/reach/forecast.json`` (written by ``flashpoint reach fit``;
the trees as plain arrays, evaluated here with numpy); the formula's are interpolated
linearly in log t between the fitted observation times.
"""

from __future__ import annotations

import bisect
import csv
import gzip
import json
import math
from collections.abc import Sequence
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
VERSION = 2
# The model's trees for small cascades below this many reposts seen; the formula and
# trees correcting SEISMIC from there, fitted on snapshots with at least BIG_FROM.
SMALL_BELOW = 50
BIG_FROM = 20
# Regimes of the gate: lower edges of the bands of reposts seen.
BANDS = (0, 1, 2, 5, 20, 100, 500)
# Not the log-linear baseline (pipeline/reach/baselines.py): its factor per regime,
# pooled over cascades of every size, multiplied a cascade thinned from a big one by
# fifty (docs/decisions/2026-12-07-reach-forecast-v2.md).
CANDIDATES = ("model", "seismic", "no_growth")


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
    since_last: float = 1.0  # share of the time observed since the last repost

    @classmethod
    def of(cls, c: Cascade, t: float) -> Snapshot:
        s = seismic.predict(c.times, c.followers, t)
        seen = c.times[1:] <= t
        times, followers = c.times[1:][seen], c.followers[1:][seen]
        return cls._build(s, t, times, np.ones(len(times)), followers, float(c.followers[0]))

    @staticmethod
    def _since(t: float, last: float | None) -> float:
        return 1.0 if last is None or t <= 0 else min(max((t - last) / t, 0.0), 1.0)

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
            since_last=cls._since(t, max(rep_t) if rep_t else None),
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
            since_last=cls._since(t, float(times.max()) if len(times) else None),
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

    def small_vector(self) -> list[float]:
        """The small-cascade trees' features, in :data:`SMALL_TREE_FEATURES` order."""
        return [*self.vector(), math.log(self.reposts + 1), self.since_last]


TREE_FEATURES = (
    "log((F + 1) / (R + 1))",
    "log(p * n* + 1e-4)",
    "share of reposts in the last half",
    "share of reposts in the last quarter",
    "log(recent reposters' mean followers / all reposters')",
    "log(author's followers / reposters' mean)",
    "log t",
)
SMALL_TREE_FEATURES = (*TREE_FEATURES, "log(R + 1)", "share of the time observed since the last repost")


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
    final: float  # final reposts
    low: float  # 80% interval
    high: float
    reach_final: float  # the final reposts to extrapolate the potential reach from


@dataclass
class Forecaster:
    """The forecast: per regime (observation time x reposts seen, :data:`BANDS`) one of
    the candidates (:data:`CANDIDATES`) for the final size and one for the final
    potential reach, chosen on held-out training cascades (pipeline/reach/fitting.py),
    with the interval that candidate's held-out errors give."""

    times: list[float]
    a: list[float]  # the formula's parameters per time (the model from SMALL_BELOW)
    b: list[float]
    trees: Trees | None  # log(final / (R + 1)) from SMALL_BELOW
    small: Trees | None  # (final + 1) / (R + 1) below SMALL_BELOW
    size_gate: list[list[str]]
    reach_gate: list[list[str]]
    # The 80% interval's bounds per time and band, as log((final + 1) / (forecast + 1)).
    # The names are the artifact's: they were the 10th and 90th percentiles once.
    q10: list[list[float]]
    q90: list[list[float]]
    trained_on: str = ""
    version: int = VERSION
    _logs: list[float] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._logs = [math.log(t) for t in self.times]

    def _regime(self, snap: Snapshot) -> tuple[int, int]:
        """The nearest fitted time (in log t) and the band of reposts seen: a regime's
        choice is not something to interpolate."""
        x = math.log(max(snap.t, 1.0))
        i = min(range(len(self._logs)), key=lambda k: abs(self._logs[k] - x))
        return i, bisect.bisect_right(BANDS, snap.reposts) - 1

    def model(self, snap: Snapshot) -> float:
        r = float(snap.reposts)
        if r < SMALL_BELOW and self.small is not None:
            ratio = float(self.small.predict(np.array([snap.small_vector()]))[0])
            return max((r + 1) * ratio - 1, r)
        # The formula and the trees for one snapshot, in plain Python (numpy's cost per
        # call on scalars was a tenth of a forecast).
        t = snap.t
        a = at_log_time(self.times, self._logs, self.a, t)
        b = at_log_time(self.times, self._logs, self.b, t)
        formula = float(r + math.exp(a) * (r + 1) ** b * max(snap.first_generation, 1e-3) ** (1 - b))
        if self.trees is None:
            return formula
        log_ratio = float(self.trees.predict(np.array([snap.vector()]))[0])
        return math.sqrt(formula * max(math.exp(log_ratio) * (r + 1), r))

    def candidate(self, name: str, snap: Snapshot) -> float:
        r = float(snap.reposts)
        if name == "no_growth":
            return r
        if name == "seismic" and math.isfinite(snap.seismic.final):
            return max(float(snap.seismic.final), r)
        # The model, and SEISMIC's place when it is supercritical (infinite).
        return self.model(snap)

    def candidates(self, snap: Snapshot) -> dict[str, float]:
        return {c: self.candidate(c, snap) for c in CANDIDATES}

    def predict(self, snap: Snapshot) -> Forecast:
        i, j = self._regime(snap)
        size, reach = self.size_gate[i][j], self.reach_gate[i][j]
        final = self.candidate(size, snap)
        reach_final = final if reach == size else self.candidate(reach, snap)
        # The cascade will be at least as large as it is.
        r = snap.reposts
        lo = (final + 1) * math.exp(self.q10[i][j]) - 1
        hi = (final + 1) * math.exp(self.q90[i][j]) - 1
        return Forecast(snap.t, final, max(min(lo, final), r), max(hi, final), reach_final)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        keep = ("version", "trained_on", "times", "a", "b", "size_gate", "reach_gate", "q10", "q90")
        d: dict[str, Any] = {k: getattr(self, k) for k in keep}
        d["bands"] = list(BANDS)
        d["small_below"] = SMALL_BELOW
        d["tree_features"] = list(TREE_FEATURES)
        d["small_tree_features"] = list(SMALL_TREE_FEATURES)
        d["trees"] = self.trees.to_dict() if self.trees else None
        d["small"] = self.small.to_dict() if self.small else None
        path.write_text(json.dumps(d, separators=(",", ":")) + "\n")

    @classmethod
    def load(cls, path: Path) -> Forecaster:
        d = json.loads(path.read_text())
        if d.get("version") != VERSION:
            raise ValueError(f"{path}: forecast version {d.get('version')}, this code reads {VERSION}")
        same = (
            d.get("tree_features") == list(TREE_FEATURES)
            and d.get("small_tree_features") == list(SMALL_TREE_FEATURES)
            and d.get("bands") == list(BANDS)
            and d.get("small_below") == SMALL_BELOW
        )
        if not same:
            raise ValueError(f"{path}: fitted on other features or regimes; refit with flashpoint reach fit")
        unknown = {g for gate in (d["size_gate"], d["reach_gate"]) for row in gate for g in row} - set(CANDIDATES)
        if unknown:
            raise ValueError(f"{path}: unknown forecast candidate(s) {sorted(unknown)}")
        keep = ("times", "a", "b", "size_gate", "reach_gate", "q10", "q90", "trained_on", "version")
        seismic.prepare()
        return cls(
            trees=Trees(**d["trees"]) if d.get("trees") else None,
            small=Trees(**d["small"]) if d.get("small") else None,
            **{k: d[k] for k in keep},
        )


def lean(point: Any, high: Any, weight: float) -> Any:
    """A forecast ``weight`` of the way from the point forecast (0) to the top of its 80%
    interval (1), geometrically in (value + 1): escalating on it trades false alarms for
    early warnings (``FLASHPOINT_FORECAST_LEAN``; docs/reach.md). Floats or arrays."""
    if weight <= 0.0:
        return point
    return np.expm1((1.0 - weight) * np.log1p(point) + weight * np.log1p(np.maximum(high, point)))


def final_reach(reposts: int, repost_followers: float, reach_now: float, final: float) -> float:
    """Potential reach once the cascade reaches ``final`` reposts: later reposters are
    taken to have as many followers as the ones so far (plus one pseudo-reposter with
    SEISMIC's population mean, so a cascade without reposts yet is not assumed empty)."""
    mean = (repost_followers + seismic.N_STAR) / (reposts + 1)
    return reach_now + max(final - reposts, 0.0) * mean
