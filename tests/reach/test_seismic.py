"""SEISMIC against its equations (hand-worked cases) and against the authors' R package
(its example cascade, a prediction every minute for six hours, n* = 100)."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest
from scipy.integrate import quad

from pipeline.reach import seismic
from pipeline.reach.seismic import S0, C, infectiousness, kernel, kernel_ccdf, predict, weighted_exposure

REFERENCE = Path(__file__).parent.parent / "data" / "seismic_rpkg_example_reference.csv"


def test_kernel_is_a_density_with_the_papers_shape() -> None:
    total = quad(lambda s: float(kernel(s)), 0, S0)[0] + quad(lambda s: float(kernel(s)), S0, np.inf)[0]
    assert total == pytest.approx(1.0, abs=1e-5)
    assert float(kernel(10.0)) == C == float(kernel(S0))
    assert float(kernel(2 * S0)) == pytest.approx(C * 2 ** -(1 + seismic.THETA))
    assert float(kernel_ccdf(0.0)) == 1.0
    for s in (50.0, S0, 1000.0, 86_400.0):
        assert float(kernel_ccdf(s)) == pytest.approx(1 - quad(lambda u: float(kernel(u)), 0, s, points=[S0])[0])


@pytest.mark.parametrize(("t", "window"), [(200.0, 300.0), (1000.0, 500.0), (50_000.0, 7200.0), (400.0, 380.0)])
def test_weighted_exposure_is_the_kernel_weighted_integral(t: float, window: float) -> None:
    times = np.array([0.0, 10.0, 150.0, t - window - 400, t - window + 20, t - 250, t - 5])
    times = np.sort(times[(times >= 0) & (times < t)])
    got = weighted_exposure(times, t, window)
    for ti, g in zip(times, got, strict=True):

        def integrand(s: float, ti: float = ti) -> float:
            return float(kernel(s - ti)) * ((s - t) / window + 1)

        lo = max(ti, t - window)
        expected = quad(integrand, lo, t, points=[p for p in (ti + S0,) if lo < p < t])[0]
        assert g == pytest.approx(expected, rel=1e-6, abs=1e-12)


def test_hand_worked_cascade() -> None:
    # Original post (100 followers) at 0; reposts by accounts without followers at 100 s
    # and 150 s; estimate at 200 s. Three events < 5, so the window reaches back to the
    # original: w = 200 s, weight K(s) = s / 200 on [0, 200].
    times, followers = [0.0, 100.0, 150.0], [100.0, 0.0, 0.0]
    inf = infectiousness(np.array(times), np.array(followers), 200.0)
    exposure = 100 * C * 100.0  # 100 followers * integral_0^200 c * s / 200 ds
    weighted_reposts = 0.5 + 0.75  # K(100) + K(150)
    assert inf.window == 200.0
    assert inf.p == pytest.approx(weighted_reposts / exposure)
    assert inf.low < inf.p < inf.high

    p = inf.p
    remaining = 100 * (1 - C * 200.0)
    got = predict(times, followers, 200.0, n_star=1.0)
    assert got.reposts == 2
    assert got.remaining_exposure == pytest.approx(remaining)
    assert got.final == pytest.approx(2 + p * remaining / (1 - p * 1.0))
    assert got.low < got.final < got.high
    # The same cascade, among accounts with 100 followers on average: p * n* > 1.
    hot = predict(times, followers, 200.0, n_star=100.0)
    assert hot.supercritical and math.isinf(hot.final)


def test_nothing_seen_predicts_nothing() -> None:
    got = predict([0.0], [500.0], 0.0)
    assert got.reposts == 0 and got.final == 0.0 and not got.supercritical


def test_input_order_does_not_matter() -> None:
    rng = np.random.default_rng(1)
    times = np.concatenate([[0.0], np.sort(rng.uniform(0, 7200, 300))])
    followers = rng.integers(1, 5000, len(times)).astype(float)
    shuffled = rng.permutation(len(times))
    a = predict(times, followers, 3600.0)
    b = predict(times[shuffled], followers[shuffled], 3600.0)
    assert a == b


def test_matches_the_authors_r_package_every_minute_for_six_hours(seismic_example_csv: Path) -> None:
    data = np.loadtxt(seismic_example_csv, delimiter=",", skiprows=1)
    times, followers = data[:, 0], data[:, 1]
    with REFERENCE.open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 361
    for row in rows:
        t = float(row["t"])
        inf = infectiousness(times, followers, t)
        got = predict(times, followers, t, n_star=100.0)
        assert inf.p == pytest.approx(float(row["infectiousness"]), rel=1e-9, abs=1e-15), t
        assert inf.low == pytest.approx(float(row["p_low"]), rel=1e-6, abs=1e-15), t
        assert inf.high == pytest.approx(float(row["p_up"]), rel=1e-6, abs=1e-15), t
        expected = float(row["prediction"])  # R writes Inf for supercritical
        if math.isinf(expected):
            assert got.supercritical, t
        else:
            assert got.final == pytest.approx(expected, rel=1e-9), t


@pytest.mark.parametrize("seed", range(6))
def test_plain_python_rows_give_the_numpy_figures(seed: int) -> None:
    # The stream's path (a sketch's few rows, plain Python) against the array path, on
    # weighted pseudo-events: bursts, quiet spells that make the window reach back,
    # rows at and after t, bins without followers.
    rng = np.random.default_rng(seed)
    rows = int(rng.integers(1, 60))
    rep_t = np.sort(rng.choice([rng.uniform(0, 400), rng.uniform(0, 90_000)], size=rows) * rng.random(rows))
    rep_c = rng.integers(1, 40, size=rows).astype(float)
    followers = rng.integers(0, 5_000, size=rows).astype(float) * (rng.random(rows) > 0.1)
    exp_t = np.concatenate([[0.0], rep_t + rng.uniform(-5, 5, size=rows).clip(-rep_t, None)])
    exp_n = np.concatenate([[float(rng.integers(0, 100_000))], followers])
    for t in (0.0, float(rep_t[0]), float(rep_t[-1]), float(rep_t[-1]) + 1.0, float(rep_t[-1]) * 3 + 10_000):
        want = seismic.predict_weighted(exp_t, exp_n, rep_t, rep_c, t)
        got = seismic.predict_rows(exp_t.tolist(), exp_n.tolist(), rep_t.tolist(), rep_c.tolist(), t)
        assert got.reposts == want.reposts and got.t == want.t
        for name in ("final", "low", "high", "p", "remaining_exposure"):
            g, w = getattr(got, name), getattr(want, name)
            assert g == w or g == pytest.approx(w, rel=1e-10, abs=1e-300), (name, t)
