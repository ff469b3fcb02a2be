"""Flashpoint's reach forecast: the input contract, the fit, and the comparison with
SEISMIC (on synthetic cascades everywhere, on the real ones where the data is)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pipeline.reach.evaluation import evaluate, evaluate_times, render
from pipeline.reach.fitting import cross_fits, fit
from pipeline.reach.forecast import Cascade, Forecaster, Snapshot, Trees, final_reach, read_events
from pipeline.settings import Settings
from tests.conftest import cli_output
from tests.factories import cascade_csv_text, cascade_events

SHIPPED = Settings().reach_model


def synthetic(n: int = 12) -> list[Cascade]:
    out = []
    for i in range(n):
        times, followers = cascade_events(200 + 150 * i, seed=i)
        out.append(Cascade(f"c{i}", times, followers))
    return out


def test_read_events_groups_and_sorts(tmp_path: Path) -> None:
    path = tmp_path / "e.csv"
    path.write_text("cascade_id,relative_time_second,number_of_followers\nb,0,10\na,30,5\na,0,100\na,10,7\n")
    got = {c.id: c for c in read_events(path)}
    assert list(got["a"].times) == [0, 10, 30] and list(got["a"].followers) == [100, 7, 5]
    assert got["a"].final == 2 and got["b"].final == 0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("cascade_id,relative_time_second\na,0\n", "missing column(s) number_of_followers"),
        ("cascade_id,relative_time_second,number_of_followers\na,5,1\n", "no original post"),
        ("cascade_id,relative_time_second,number_of_followers\na,0,1\na,-3,1\n", ":3: time and followers must be"),
        ("cascade_id,relative_time_second,number_of_followers\na,0,x\n", ":2: time and followers must be numbers"),
    ],
)
def test_read_events_rejects_bad_files_clearly(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_events(path)


def test_shipped_forecast_loads_and_grows_with_the_cascade() -> None:
    f = Forecaster.load(SHIPPED)
    assert f.times == sorted(f.times) and all(0 <= b <= 1 for b in f.b) and f.trees is not None
    times, followers = cascade_events(3_000, seed=3)
    big = Cascade("big", times, followers)
    # The same cascade with every 30th repost: the same shape, a thirtieth of the size.
    small = Cascade("small", times[::30], followers[::30])
    fb, fs = f.predict(Snapshot.of(big, 3600)), f.predict(Snapshot.of(small, 3600))
    assert fb.final > fs.final >= Snapshot.of(small, 3600).reposts
    # Nearly proportional: the forecast learns no prior on cascade size.
    assert fb.final / fs.final == pytest.approx(30, rel=0.35)
    assert fs.low <= fs.final <= fs.high
    quiet = Snapshot.of(Cascade("q", np.array([0.0, 10.0, 20.0]), np.array([100.0, 0.0, 0.0])), 86_400)
    assert f.predict(quiet).low >= 2  # never below what is already there


def test_trees_evaluate_as_sklearn_does() -> None:
    from sklearn.ensemble import GradientBoostingRegressor

    rng = np.random.default_rng(0)
    x = rng.normal(size=(1_000, 7))
    y = 2 * x[:, 0] + np.sin(x[:, 1]) + rng.normal(size=1_000) * 0.1
    gb = GradientBoostingRegressor(loss="absolute_error", n_estimators=40, max_depth=3, random_state=0).fit(x, y)
    trees = Trees.from_sklearn(gb, shift=0.25)
    back = Trees(**json.loads(json.dumps(trees.to_dict())))
    np.testing.assert_allclose(back.predict(x[:300]), gb.predict(x[:300]) + 0.25, atol=1e-9)
    # One row at a time (the stream's path) gives exactly the same, shallow leaves too.
    shallow = GradientBoostingRegressor(n_estimators=40, max_depth=3, min_samples_split=400, random_state=0).fit(x, y)
    for model in (back, Trees.from_sklearn(shallow)):
        rows = model.predict(x[:50])
        assert [float(model.predict(x[i])[0]) for i in range(50)] == rows.tolist()
    assert any(len(f) < 15 for f in Trees.from_sklearn(shallow).feature), "some leaves above depth 3"
    # Deeper trees than the lookup tables cover take the level-by-level walk.
    deep = Trees.from_sklearn(GradientBoostingRegressor(n_estimators=10, max_depth=5, random_state=0).fit(x, y))
    assert deep._lookup is None and back._lookup is not None
    assert [float(deep.predict(x[i])[0]) for i in range(50)] == deep.predict(x[:50]).tolist()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_snapshot_of_a_sketch_is_the_array_snapshot_of_its_rows(seed: int) -> None:
    from pipeline.reach import seismic
    from pipeline.reach.sketch import ArrivalSketch

    times, followers = cascade_events(2_000, seed)
    sketch = ArrivalSketch()
    sketch.add_root(1e9, followers[0])
    for i, (t, n) in enumerate(zip(times[1:], followers[1:], strict=True)):
        sketch.add(1e9 + t, n)
        if i % 97:
            continue
        got = Snapshot.of_sketch(sketch, 1e9 + t + 1)
        exp_t, exp_n, rep_t, rep_c = sketch.arrays()
        age = sketch.age(1e9 + t + 1)
        s = seismic.predict_weighted(exp_t, exp_n, rep_t, rep_c, age)
        want = Snapshot._build(s, age, rep_t, rep_c, exp_n[1:], sketch.root_followers)
        # Rounding only: sums in another order, u ** (1 - theta) as u * u ** -theta.
        assert got.vector() == pytest.approx(want.vector(), rel=1e-10)
        assert got.reposts == want.reposts and got.seismic.final == pytest.approx(want.seismic.final, rel=1e-10)


def test_fit_on_synthetic_cascades_beats_seismic_held_out() -> None:
    # These cascades follow SEISMIC's kernel without branching, so SEISMIC is close to
    # right; the fitted correction must at least not make it worse.
    cascades = synthetic()
    result = evaluate(cascades, 3600.0, cv=3)
    s, o = result["size"]["seismic"], result["size"]["flashpoint"]
    assert result["cascades"] == 12 and "3-fold" in result["protocol"]
    assert o["median_ape"] <= s["median_ape"] * 1.1
    assert set(result["size"]) == {"seismic", "no_growth", "log_linear", "flashpoint"}
    assert all(0.0 <= c <= 1.0 for c in result["interval_coverage"].values())
    text = render(result)
    assert all(n in text for n in ("seismic", "no growth", "log linear", "flashpoint", "final >= T", "80%"))


def test_evaluate_fits_on_other_cascades_too_without_judging_them() -> None:
    cascades = synthetic(6)
    alone = evaluate(cascades[:3], 1800.0, cv=3)
    helped = evaluate(cascades[:3], 1800.0, cv=3, train_also=cascades[3:])
    assert helped["cascades"] == alone["cascades"] == 3
    assert "and 3 other cascades" in helped["protocol"]
    # The baselines see only the judged kind: the same with or without the others.
    assert helped["size"]["log_linear"] == alone["size"]["log_linear"]
    assert helped["size"]["no_growth"] == alone["size"]["no_growth"]


def test_evaluation_on_small_bursty_cascades_holds_every_predictor_to_them() -> None:
    from tests.factories import small_cascade_events

    small = [Cascade(f"s{i}", *small_cascade_events(seed=i)) for i in range(60)]
    assert np.median([c.final for c in small]) <= 2
    # Fitted on big cascades too, as the shipped forecast is, judged on the small ones.
    r = evaluate(small, 1800.0, cv=3, train_also=synthetic(4))
    assert r["final_size"]["median"] <= 3 and r["cascades"] == sum(c.final > 0 for c in small)
    assert set(r["size"]) == {"seismic", "no_growth", "log_linear", "flashpoint"}
    # No growth is never off by more than everything still to come.
    assert r["size"]["no_growth"]["p90_ape"] <= 1.0
    assert all(np.isfinite(r["size"][n]["median_ape"]) for n in ("no_growth", "log_linear", "flashpoint"))


@pytest.mark.training  # four fits of the forecast
def test_repeated_splits_judge_each_cascade_once_per_split_and_pool_them() -> None:
    cascades = synthetic(4)
    once = evaluate(cascades, 1800.0, cv=2)
    again = evaluate(cascades, 1800.0, cv=2, seed=1)
    pooled = evaluate(cascades, 1800.0, cv=2, repeats=2)
    assert pooled["cascades"] == once["cascades"] == 4
    assert "2 2-fold splits by cascade (seeds 0..1), pooled" in pooled["protocol"]
    # The pooled mean is the mean of the two splits' means (same number judged in each).
    for name in ("flashpoint", "seismic"):
        want = (once["size"][name]["mean_ape"] + again["size"][name]["mean_ape"]) / 2
        assert pooled["size"][name]["mean_ape"] == pytest.approx(want, abs=2e-4)
    with pytest.raises(ValueError, match="more than one needs cv >= 2"):
        evaluate(cascades, 1800.0, Forecaster.load(Settings().reach_model), repeats=2)


def test_evaluate_needs_a_model_or_cv() -> None:
    with pytest.raises(ValueError, match="cv >= 2"):
        evaluate(synthetic(2), 600.0)


def test_final_reach_extrapolates_with_the_mean_reposter() -> None:
    assert final_reach(reposts=3, repost_followers=300, reach_now=1_300, final=3) == 1_300
    assert final_reach(reposts=3, repost_followers=300, reach_now=1_300, final=13) == 1_300 + 10 * 100


def test_cli_evaluate_prints_both_predictors(tmp_path: Path) -> None:
    cascades = {f"c{i}": cascade_events(300 + 100 * i, seed=10 + i) for i in range(6)}
    path = tmp_path / "events.csv"
    path.write_text(cascade_csv_text(cascades))
    out = cli_output("reach", "evaluate", "--events", str(path), "--observe-seconds", "1800")
    assert "6 cascades" in out and "shipped forecast" in out
    # No training folds: no log-linear factors to judge the shipped forecast against.
    assert "seismic" in out and "flashpoint" in out and "no growth" in out and "log linear" not in out
    out = cli_output("reach", "evaluate", "--events", str(path), "--cv", "3", "--json")
    assert json.loads(out)["size"]["flashpoint"]["median_ape"] >= 0


def test_fit_writes_a_loadable_forecast(tmp_path: Path) -> None:
    cascades = synthetic(4)
    f = fit([cascades], times=[600.0, 3600.0], name="synthetic")
    f.save(tmp_path / "f.json")
    back = Forecaster.load(tmp_path / "f.json")
    assert back.a == f.a and back.trained_on == "synthetic" and back.size_gate == f.size_gate
    c = cascades[0]
    assert np.isfinite(back.predict(Snapshot.of(c, 1200)).final)
    assert back.predict(Snapshot.of(c, 1200)).final == pytest.approx(f.predict(Snapshot.of(c, 1200)).final)


@pytest.mark.training  # ten fits of the forecast: two minutes on two cores
def test_beats_seismic_on_held_out_real_cascades(tideh_events_csv: Path) -> None:
    # docs/reach.md's figures, 5-fold by cascade (each fold's forecast fitted once, judged at
    # 10 minutes and an hour). On the cascades as they are, Flashpoint's median and mean
    # error are below SEISMIC's; thinned to a few dozen reposts its mean error still is.
    cascades = read_events(tideh_events_csv)
    fits = cross_fits(cascades, 5)
    for r in evaluate_times(cascades, [600.0, 3600.0], cv=5, fits=fits):
        s, o = r["size"]["seismic"], r["size"]["flashpoint"]
        assert o["median_ape"] < s["median_ape"] and o["mean_ape"] < s["mean_ape"], r
    for r in evaluate_times(cascades, [600.0, 3600.0], cv=5, thin=0.02, fits=fits):
        assert r["final_size"]["median"] < 100
        assert r["size"]["flashpoint"]["mean_ape"] < r["size"]["seismic"]["mean_ape"], r


def test_plot_script_draws_the_median_cascade(tmp_path: Path) -> None:
    cascades = {f"c{i}": cascade_events(300 + 100 * i, seed=20 + i) for i in range(5)}
    events = tmp_path / "events.csv"
    events.write_text(cascade_csv_text(cascades))
    out = tmp_path / "plot.png"
    script = Path(__file__).resolve().parents[2] / "models" / "reach" / "plot_cascade.py"
    done = subprocess.run(
        [sys.executable, str(script), "--events", str(events), "--out", str(out)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "cascade c2" in done.stdout
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
