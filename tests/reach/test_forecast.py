"""Flashpoint's reach forecast: the input contract, the fit, and the comparison with
SEISMIC (on synthetic cascades everywhere, on the real ones where the data is)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pipeline.reach.evaluation import evaluate, render
from pipeline.reach.forecast import Cascade, Forecaster, final_reach, fit, read_events
from pipeline.settings import Settings
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
    assert f.times == sorted(f.times) and all(0 <= b <= 1 for b in f.b)
    small, large = f.predict(10, 5.0, 3600), f.predict(1_000, 500.0, 3600)
    assert 10 <= small.final < large.final
    # Nearly proportional: the forecast learns no prior on cascade size.
    assert large.final / small.final == pytest.approx(100, rel=0.15)
    assert small.low <= small.final <= small.high
    assert f.predict(10, 0.0, 3600).low >= 10  # never below what is already there


def test_fit_on_synthetic_cascades_beats_seismic_held_out() -> None:
    # These cascades follow SEISMIC's kernel without branching, so SEISMIC is close to
    # right; the fitted correction must at least not make it worse.
    cascades = synthetic()
    result = evaluate(cascades, 3600.0, cv=3)
    s, o = result["size"]["seismic"], result["size"]["flashpoint"]
    assert result["cascades"] == 12 and "3-fold" in result["protocol"]
    assert o["median_ape"] <= s["median_ape"] * 1.1
    text = render(result)
    assert "seismic" in text and "flashpoint" in text and "final >= T" in text


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
    out = subprocess.run(
        [sys.executable, "-m", "pipeline", "reach", "evaluate", "--events", str(path), "--observe-seconds", "1800"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "6 cascades" in out and "shipped forecast" in out
    assert "seismic" in out and "flashpoint" in out
    out = subprocess.run(
        [sys.executable, "-m", "pipeline", "reach", "evaluate", "--events", str(path), "--cv", "3", "--json"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert json.loads(out)["size"]["flashpoint"]["median_ape"] >= 0


def test_fit_writes_a_loadable_forecast(tmp_path: Path) -> None:
    cascades = synthetic(4)
    f = fit(cascades, times=[600.0, 3600.0], name="synthetic")
    f.save(tmp_path / "f.json")
    back = Forecaster.load(tmp_path / "f.json")
    assert back.a == f.a and back.trained_on == "synthetic"
    assert np.isfinite(back.predict(50, 20.0, 1200).final)


@pytest.mark.parametrize("observe", [600.0, 3600.0])
def test_beats_seismic_on_held_out_real_cascades(tideh_events_csv: Path, observe: float) -> None:
    # The README's figures, 5-fold by cascade. On the cascades as they are, Flashpoint's
    # median and mean error are below SEISMIC's; thinned to a few dozen reposts its mean
    # error still is (its median there is on a par with SEISMIC's, as the README says).
    cascades = read_events(tideh_events_csv)
    r = evaluate(cascades, observe, cv=5)
    s, o = r["size"]["seismic"], r["size"]["flashpoint"]
    assert o["median_ape"] < s["median_ape"] and o["mean_ape"] < s["mean_ape"], r
    r = evaluate(cascades, observe, cv=5, thin=0.02)
    assert r["final_size"]["median"] < 100
    assert r["size"]["flashpoint"]["mean_ape"] < r["size"]["seismic"]["mean_ape"], r
