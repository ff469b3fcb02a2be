from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pipeline.escalation import LEVELS, Policy, decide, event, transitions
from pipeline.reach import CascadeTracker, Forecaster, outlook
from pipeline.records import BrandMatch
from pipeline.settings import Settings
from tests.factories import at, classified

POLICY = Policy(
    min_complaint_probability=0.6,
    reach_thresholds=(1_000, 10_000, 100_000, 1_000_000),
    about_reach_factor=5.0,
    influencer_followers=100_000,
    pile_on_replies=3,
)
ADDRESSED = (BrandMatch("Acme", True, ("@AcmeCustServ",)),)
ABOUT = (BrandMatch("Acme", False, ("#Acme",)),)


def cascade(
    followers: int, probability: float = 0.9, brands: tuple[BrandMatch, ...] = ADDRESSED, severity: int = 2
) -> Any:
    t = CascadeTracker({}, {}, {})
    state = t.apply(
        classified(id="r", probability=probability, severity=severity, brands=brands, author={"followers": followers})
    )
    return t, state


def test_levels_follow_reach_thresholds() -> None:
    for followers, level in [
        (999, None),
        (1_000, "info"),
        (10_000, "warning"),
        (150_000, "error"),
        (1_000_000, "critical"),
    ]:
        _, s = cascade(followers)
        got = decide(s, POLICY)
        if level is None:
            assert got == []
        else:
            assert got[0].severity == level


def test_not_a_complaint_never_escalates() -> None:
    _, s = cascade(5_000_000, probability=0.3)
    assert decide(s, POLICY) == []


def test_about_only_needs_more_reach() -> None:
    _, s = cascade(4_000, brands=ABOUT)
    assert decide(s, POLICY) == []
    _, s = cascade(5_000, brands=ABOUT)
    assert decide(s, POLICY)[0].severity == "info"


def test_influencer_is_at_least_a_warning() -> None:
    _, s = cascade(5_000)
    assert decide(s, POLICY)[0].severity == "info"
    d = decide(s, Policy(**{**POLICY.__dict__, "influencer_followers": 5_000}))[0]
    assert d.severity == "warning" and any("influencer" in r for r in d.reasons)


def test_blame_raises_one_level_when_addressed() -> None:
    _, s = cascade(2_000, severity=4)
    assert decide(s, POLICY)[0].severity == "warning"


def test_one_open_then_upgrades_only_when_severity_rises() -> None:
    t, s = cascade(1_500)
    assert [a for _, a in transitions(s, decide(s, POLICY))] == ["open"]
    assert transitions(s, decide(s, POLICY)) == []
    s = t.apply(classified(id="x", kind="repost", parent_id="r", root_id="r", author={"followers": 20_000}))
    s.escalated = {"Acme": "info"}
    moves = transitions(s, decide(s, POLICY))
    assert [(d.severity, a) for d, a in moves] == [("warning", "upgrade")]
    assert s.escalated == {"Acme": "warning"}


def test_event_is_a_cloudevent_with_everything_ops_needs() -> None:
    t, s = cascade(20_000)
    s = t.apply(
        classified(id="x", kind="repost", parent_id="r", root_id="r", created_at=at(1800), author={"followers": 500})
    )
    ((d, action),) = transitions(s, decide(s, POLICY))
    ev = event(s, d, action, now=datetime(2026, 11, 22, 15, tzinfo=UTC), source="urn:test")
    assert ev["specversion"] == "1.0" and ev["type"] == "dev.flashpoint.escalation.v1"
    data = ev["data"]
    assert data["dedup_key"] == "Acme/twitter:r" == ev["subject"]
    assert data["action"] == "open" and data["severity"] in LEVELS
    assert data["root_post"]["id"] == "r" and data["root_post"]["author_followers"] == 20_000
    assert data["reach"]["potential"] == 20_500 and data["reach"]["reposts"] == 1
    assert data["reach"]["potential_per_hour"] == 41_000
    assert data["participants"] == 2 and data["model_version"] == "test"
    assert all(r.endswith(".") for r in data["reasons"])
    again = event(s, d, action, now=datetime(2026, 11, 23, tzinfo=UTC), source="urn:test")
    assert again["id"] == ev["id"], "the id must be stable for the same key and severity"


def hot_cascade(reposts: int, every: float = 20.0, followers: int = 400) -> tuple[Any, Any]:
    """A complaint by a small account, reposted fast."""
    t, s = cascade(300)
    for i in range(reposts):
        s = t.apply(
            classified(
                id=f"x{i}",
                kind="repost",
                parent_id="r",
                root_id="r",
                created_at=at(every * (i + 1)),
                author={"id": f"u{i}", "followers": followers},
            )
        )
    return t, s


FORECASTER = Forecaster.load(Settings().reach_model)


def test_forecast_escalates_before_reach_crosses_and_says_so() -> None:
    _, s = hot_cascade(20)
    assert s.potential_reach == 300 + 20 * 400 < POLICY.reach_thresholds[1]
    now_only = decide(s, POLICY)
    ahead = outlook(s, FORECASTER)
    assert ahead is not None and ahead.potential_reach >= POLICY.reach_thresholds[1]
    with_forecast = decide(s, POLICY, ahead)
    assert LEVELS.index(with_forecast[0].severity) > LEVELS.index(now_only[0].severity)
    assert any(
        r.startswith("Forecast: potential reach about") and "80% interval" in r for r in with_forecast[0].reasons
    )
    ((d, action),) = transitions(s, with_forecast)
    data = event(s, d, action, now=datetime(2026, 11, 22, 15, tzinfo=UTC), source="urn:test", outlook=ahead)["data"]
    f = data["forecast"]
    assert f["observed_seconds"] == 400 and f["reposts_seen"] == 20
    lo, hi = f["potential_reach_interval"]
    assert lo <= f["potential_reach"] <= hi and f["interval"] == 0.8
    assert f["final_reposts_interval"][0] >= 20
    assert isinstance(f["supercritical"], bool)


def test_forecast_waits_for_enough_reposts_and_time() -> None:
    _, s = hot_cascade(4, every=100.0)
    ahead = outlook(s, FORECASTER)
    assert ahead is not None and ahead.observed_seconds >= POLICY.forecast_min_seconds
    assert decide(s, POLICY, ahead) == decide(s, POLICY)
    _, s = hot_cascade(20, every=5.0)  # 20 reposts in 100 seconds: too early to tell
    ahead = outlook(s, FORECASTER)
    assert ahead is not None and ahead.potential_reach >= POLICY.reach_thresholds[1]
    assert decide(s, POLICY, ahead) == decide(s, POLICY)
    off = Policy(**{**POLICY.__dict__, "forecast_min_reposts": None})
    _, s = hot_cascade(20)
    assert decide(s, off, outlook(s, FORECASTER)) == decide(s, POLICY)


def test_growing_forecast_upgrades() -> None:
    t, s = hot_cascade(6, every=60.0)  # observed 6 minutes
    first = transitions(s, decide(s, POLICY, outlook(s, FORECASTER)))
    assert [a for _, a in first] == ["open"]
    t.save(s)
    level = s.escalated["Acme"]
    for i in range(6, 200):
        s = t.apply(
            classified(
                id=f"x{i}",
                kind="repost",
                parent_id="r",
                root_id="r",
                created_at=at(360 + 5 * i),
                author={"id": f"u{i}", "followers": 400},
            )
        )
    moves = transitions(s, decide(s, POLICY, outlook(s, FORECASTER)))
    assert [a for _, a in moves] == ["upgrade"]
    assert LEVELS.index(s.escalated["Acme"]) > LEVELS.index(level)


def test_supercritical_cascade_is_flagged() -> None:
    _, s = hot_cascade(60, every=5.0, followers=5)
    ahead = outlook(s, FORECASTER)
    # 60 reposts in 5 minutes from 600 followers' worth of exposure: p * n* >= 1.
    assert ahead is not None and ahead.supercritical
    assert any("supercritical" in r for r in decide(s, POLICY, ahead)[0].reasons)
    data = event(
        s, decide(s, POLICY, ahead)[0], "open", now=datetime(2026, 11, 22, 15, tzinfo=UTC), source="u", outlook=ahead
    )
    assert data["data"]["forecast"]["supercritical"] is ahead.supercritical
    assert (data["data"]["forecast"]["seismic_final_reposts"] is None) is ahead.supercritical
