"""What escalating on the forecast would have done: false alarms, early warnings, lead."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipeline.reach.alarms import alarms, first_alarm, render, sweep, track
from pipeline.reach.forecast import Cascade, Forecast, Snapshot
from tests.conftest import cli_output
from tests.factories import cascade_csv_text, cascade_events, small_cascade_events


class Says:
    """A forecaster that forecasts ``factor`` times the reposts seen, with the top of its
    interval at ``top`` times."""

    def __init__(self, factor: float, top: float | None = None) -> None:
        self.factor = factor
        self.top = factor if top is None else top

    def predict(self, snap: Snapshot) -> Forecast:
        final = snap.reposts * self.factor
        return Forecast(snap.t, final, final, snap.reposts * self.top, final)


def cascade(cid: str, every: float, reposts: int, followers: float, root: float = 100.0) -> Cascade:
    times = np.arange(reposts + 1, dtype=float) * every
    return Cascade(cid, times, np.concatenate([[root], np.full(reposts, followers)]))


def test_a_cascade_that_stays_small_but_is_forecast_big_is_a_false_alarm() -> None:
    quiet = cascade("quiet", every=120.0, reposts=8, followers=100.0)  # reach ends at 900
    got = first_alarm(quiet, Says(1_000.0), 5_000, min_reposts=5, min_seconds=300.0, checks=50)
    # The 5th repost (600 s) is the first the policy lets the forecast speak at.
    assert got == (600.0, None)
    [row] = alarms([quiet], Says(1_000.0), [5_000])
    assert (row["stay_below"], row["false_alarms"], row["pass_later"]) == (1, 1, 0)
    assert row["false_alarm_share"] == 1.0
    # Forecasting no growth raises nothing.
    assert alarms([quiet], Says(1.0), [5_000])[0]["false_alarms"] == 0


def test_a_forecast_that_passes_before_the_cascade_does_is_an_early_warning() -> None:
    # 1,000 followers a repost from a 100-follower post: 10,000 is passed at repost 10 (1,200 s).
    growing = cascade("growing", every=120.0, reposts=20, followers=1_000.0)
    [row] = alarms([growing], Says(100.0), [10_000])
    assert (row["pass_later"], row["escalated_early"]) == (1, 1)
    assert row["median_lead_seconds"] == 1_200.0 - 600.0
    [row] = alarms([growing], Says(1.0), [10_000])
    assert (row["pass_later"], row["escalated_early"], row["median_lead_seconds"]) == (1, 0, None)


def test_too_few_reposts_too_soon_or_a_big_post_raise_nothing() -> None:
    short = cascade("short", every=120.0, reposts=4, followers=100.0)
    early = cascade("early", every=10.0, reposts=20, followers=10.0)  # over by 200 s
    famous = cascade("famous", every=120.0, reposts=10, followers=10.0, root=1e6)
    [row] = alarms([short, early, famous], Says(1e6), [5_000], min_reposts=5, min_seconds=300.0)
    assert (row["stay_below"], row["false_alarms"]) == (2, 0)  # the famous post is left out
    with pytest.raises(ValueError, match="min_reposts must be at least 1"):
        alarms([short], Says(1.0), min_reposts=0)
    assert "false alarms" in render([row]) and "0 (0.0%)" in render([row])


def test_cli_reports_alarms_of_the_shipped_forecast(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    big = cascade("big", every=60.0, reposts=300, followers=2_000.0)
    small = cascade("small", every=600.0, reposts=6, followers=50.0)
    path.write_text(cascade_csv_text({c.id: (c.times, c.followers) for c in (big, small)}))
    out = cli_output("reach", "alarms", "--events", str(path), "--thresholds", "100000")
    assert "stay below" in out and "100,000" in out


def test_leaning_towards_the_interval_top_warns_earlier_and_raises_more_false_alarms() -> None:
    growing = cascade("growing", every=120.0, reposts=20, followers=1_000.0)  # passes 10,000 at 1,200 s
    quiet = cascade("quiet", every=120.0, reposts=8, followers=100.0)  # ends at 900
    cautious = Says(1.0, top=100.0)  # no growth, but up to 100 times as many reposts
    for lean_by, alarmed in ((0.0, 0), (0.5, 1), (1.0, 1)):
        [row] = alarms([growing], cautious, [10_000], lean_by=lean_by)
        assert row["escalated_early"] == alarmed and row["lean"] == lean_by
    # The quiet cascade's highest forecast reach, and half-way (geometrically) to the top
    # of its interval: a threshold between them is a false alarm only when leaning.
    tr = track(quiet, cautious, min_reposts=5, min_seconds=300.0, checks=200)
    point, half = tr.point.max(), (np.sqrt((tr.point + 1) * (tr.high + 1)) - 1).max()
    assert point < 0.9 * half
    assert alarms([quiet], cautious, [0.9 * half], lean_by=0.0)[0]["false_alarms"] == 0
    assert alarms([quiet], cautious, [0.9 * half], lean_by=0.5)[0]["false_alarms"] == 1
    assert alarms([quiet], cautious, [1.1 * half], lean_by=0.5)[0]["false_alarms"] == 0
    rows = sweep([growing, quiet], cautious, [10_000], [0.0, 1.0])
    assert [r[0]["escalated_early"] for r in rows] == [0, 1]


def test_held_out_alarms_fit_a_forecast_per_fold() -> None:
    small = [Cascade(f"s{i}", *small_cascade_events(seed=i)) for i in range(40)]
    big = [Cascade(f"b{i}", *cascade_events(400, seed=60 + i)) for i in range(3)]
    rows = alarms(small + big, None, [2_000], cv=2, checks=20)
    assert rows[0]["cascades"] == 43
    with pytest.raises(ValueError, match="cv >= 2"):
        alarms(small, None, [2_000])
