"""pipeline.reach.fitting: training rows, the gate between the forecast's candidates and
its held-out interval, on small synthetic cascades of both kinds."""

import json
from pathlib import Path

import numpy as np
import pytest

from pipeline.reach import fitting
from pipeline.reach.forecast import BANDS, CANDIDATES, Cascade, Forecaster, Snapshot
from tests.factories import cascade_events, small_cascade_events

TIMES = [600.0, 3600.0, 21_600.0]


def burst(i: int) -> Cascade:
    """A cascade that is over in ten minutes: one to four reposts, then silence."""
    rng = np.random.default_rng(i)
    n = 1 + i % 4
    times = np.concatenate([[0.0], np.sort(rng.uniform(10, 600, n))])
    return Cascade(f"b{i}", times, np.round(rng.lognormal(5, 1, n + 1)))


def big(i: int) -> Cascade:
    times, followers = cascade_events(400 + 50 * i, seed=100 + i)
    return Cascade(f"g{i}", times, followers)


def test_rows_weigh_each_set_the_same_and_keep_a_cascade_with_its_thinned_copies() -> None:
    small, large = [burst(i) for i in range(30)], [big(i) for i in range(3)]
    rows = fitting.rows([small, large], TIMES, seed=0)
    first = rows.cascade < len(small)
    assert rows.weight[first].sum() == pytest.approx(rows.weight[~first].sum())
    assert rows.weight.sum() == pytest.approx(len(rows))
    # Thinned copies share their cascade's index (a fold takes them together) and are
    # flagged, so only the originals choose the gate.
    assert set(rows.cascade[~rows.original]) <= set(rows.cascade[rows.original])
    assert (~rows.original[~first]).any()
    assert set(rows.t.tolist()) == set(TIMES)
    # Every snapshot sees no more than the cascade's final size.
    assert (rows.r <= rows.final).all() and (rows.reach_now <= rows.reach).all()


def test_the_gate_keeps_what_is_seen_where_cascades_have_stopped_growing() -> None:
    small, large = [burst(i) for i in range(60)], [big(i) for i in range(4)]
    f = fitting.fit([small, large], TIMES, seed=0)
    at_hour = f.times.index(3600.0)
    # At an hour, every small cascade has long stopped: nothing beats "no growth".
    for reposts in (1, 2, 3):
        band = int(np.searchsorted(BANDS, reposts, side="right") - 1)
        assert f.size_gate[at_hour][band] == "no_growth"
        c = next(c for c in small if c.final == reposts)
        got = f.predict(Snapshot.of(c, 3600.0))
        assert got.final == reposts and got.low <= reposts <= got.high
    assert {g for row in f.size_gate + f.reach_gate for g in row} <= set(CANDIDATES)


def test_the_interval_comes_from_held_out_errors_and_brackets_the_forecast() -> None:
    small = [Cascade(f"s{i}", *small_cascade_events(seed=i)) for i in range(80)]
    f = fitting.fit([small, [big(i) for i in range(4)]], TIMES, seed=0)
    for lows, highs in zip(f.q10, f.q90, strict=True):
        assert all(lo <= hi for lo, hi in zip(lows, highs, strict=True))
    for c in small[:20]:
        for t in TIMES:
            p = f.predict(Snapshot.of(c, t))
            assert p.low <= p.final <= p.high and p.low >= Snapshot.of(c, t).reposts


def test_fit_needs_reposts() -> None:
    lone = Cascade("lone", np.array([0.0]), np.array([10.0]))
    with pytest.raises(ValueError, match="need reposts"):
        fitting.fit([[lone]], TIMES)


def test_load_refuses_a_gate_naming_an_unknown_candidate(tmp_path: Path) -> None:
    f = fitting.fit([[burst(i) for i in range(30)], [big(i) for i in range(3)]], TIMES, seed=0)
    path = tmp_path / "f.json"
    f.save(path)
    assert Forecaster.load(path).size_gate == f.size_gate
    d = json.loads(path.read_text())
    d["size_gate"][0][0] = "crystal_ball"
    path.write_text(json.dumps(d))
    with pytest.raises(ValueError, match="crystal_ball"):
        Forecaster.load(path)


def share_inside(resid: np.ndarray, bounds: tuple[float, float]) -> float:
    return float(np.mean((resid >= bounds[0]) & (resid <= bounds[1])))


def test_the_interval_holds_80_percent_of_continuous_errors_like_the_percentiles() -> None:
    resid = np.random.default_rng(0).normal(size=4000)
    low, high = fitting.interval(resid, np.ones_like(resid))
    assert share_inside(resid, (low, high)) == pytest.approx(0.8, abs=0.005)
    assert (low, high) == pytest.approx(tuple(np.percentile(resid, [10, 90])), abs=0.03)


def test_the_interval_on_piled_up_whole_number_errors_holds_80_percent_not_the_pile() -> None:
    # Small cascades forecast at 1 that end at 1, 2, 3 or 4 reposts: 65%, 15%, 12%, 8%.
    # The 90th percentile lands on the pile at 3, and an interval up to it held 92%.
    finals = np.repeat([1, 2, 3, 4], [65, 15, 12, 8])
    resid = np.log((finals + 1) / 2.0)
    assert share_inside(resid, (0.0, float(np.percentile(resid, 90)))) == pytest.approx(0.92)
    low, high = fitting.interval(resid, np.ones_like(resid))
    assert share_inside(resid, (low, high)) == pytest.approx(0.80)
    assert low <= 0.0 <= high


def test_the_interval_keeps_the_forecast_inside_when_it_is_almost_always_exact() -> None:
    resid = np.repeat([0.0, 1.0], [91, 9])
    low, high = fitting.interval(resid, np.ones_like(resid))
    assert low <= 0.0 <= high and share_inside(resid, (low, high)) == pytest.approx(0.91)
    # On a bound, a whole-number final size stays inside after exp and log.
    finals = np.repeat([1, 2], [70, 30])
    low, high = fitting.interval(np.log((finals + 1) / 2.0), np.ones(100))
    assert (1 + 1) * np.exp(high) - 1 >= 2  # the bound is log(3 / 2) itself


def test_where_two_datasets_share_a_regime_the_less_covered_one_sets_the_interval() -> None:
    # 200 small cascades that stop where they are and 40 big ones whose errors spread:
    # pooled, the small ones' pile alone would pass for 80%.
    rng = np.random.default_rng(1)
    resid = np.concatenate([np.zeros(200), rng.normal(0.0, 0.5, 40)])
    group = np.repeat([0, 1], [200, 40])
    weight = np.ones(240)
    assert fitting.interval(resid, weight) == pytest.approx((0.0, 0.0), abs=1e-6)
    low, high = fitting.interval(resid, weight, group)
    assert share_inside(resid[200:], (low, high)) >= 0.8
    assert share_inside(resid[:200], (low, high)) == 1.0
