from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest

from pipeline.escalation import LEVELS, Policies, Policy, decide, event, transitions
from pipeline.reach import CascadeState, CascadeTracker, Forecaster, Outlook, RootPost, outlook
from pipeline.records import BrandMatch
from pipeline.settings import Settings
from tests.factories import assert_valid_escalation, at, classified

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
    assert decide(state(about=True, reach=4_999, reposts=3), POLICY) == []
    assert decide(state(about=True, reach=5_000, reposts=3), POLICY)[0].severity == "info"


def state(
    *,
    about: bool = False,
    probability: float = 0.9,
    severity: int = 2,
    reach: int = 1_200,
    reposts: int = 0,
    quotes: int = 0,
    complaining: int = 0,
    handle: str = "alice",
    followers: int = 1_200,
    brand: str = "Acme",
) -> CascadeState:
    match = BrandMatch(brand, not about, ("#Acme",) if about else ("@AcmeCustServ",))
    root = RootPost("r", "twitter", "text", None, handle, followers, False, "2026-11-22T14:00:00+00:00")
    return CascadeState(
        key="twitter:r",
        root=root,
        brands=[match],
        complaint_probability=probability,
        complaint_severity=severity,
        potential_reach=reach,
        participants=1 + reposts + quotes,
        reposts=reposts,
        quotes=quotes,
        complaining_responses=complaining,
        last_event_at="2026-11-22T14:10:00+00:00",
    )


# The rules in decide()'s docstring and docs/operations.md, one row each: the cascade, the
# brand's policy overrides, and the severity its team sees (None: nothing).
RULES: list[tuple[str, dict[str, Any], dict[str, Any], str | None]] = [
    ("1. below the probability floor", {"probability": 0.59, "reach": 10**7}, {}, None),
    ("1. the brand's own floor", {"probability": 0.7, "reach": 10**7}, {"min_complaint_probability": 0.8}, None),
    ("1. below the brand's severity floor", {"severity": 1, "reach": 10**7}, {"min_severity": 2}, None),
    ("2. about, not spread, nobody joined", {"about": True, "reach": 10**7, "reposts": 2}, {}, None),
    (
        "2. about, spread by reposts and quotes",
        {"about": True, "reach": 10**7, "reposts": 2, "quotes": 1},
        {},
        "critical",
    ),
    ("2. about, somebody joined in", {"about": True, "reach": 100_000, "complaining": 1}, {}, "warning"),
    (
        "2. about, the brand wants more spread",
        {"about": True, "reach": 10**7, "reposts": 3},
        {"about_min_spread": 10},
        None,
    ),
    ("3. addressed, under the info threshold", {"reach": 999}, {}, None),
    ("3. addressed, info", {"reach": 1_000}, {}, "info"),
    ("3. addressed, warning", {"reach": 20_000}, {}, "warning"),
    ("3. addressed, error", {"reach": 200_000}, {}, "error"),
    ("3. addressed, critical", {"reach": 1_000_000}, {}, "critical"),
    ("3. the brand's own thresholds", {"reach": 20_000}, {"reach": [5_000, 50_000, 500_000, 2_000_000]}, "info"),
    ("3. about needs five times the reach", {"about": True, "reach": 99_999, "reposts": 3}, {}, "info"),
    ("5. influencer: at least a warning", {"followers": 100_000, "reach": 100_000}, {"reach": [10**6] * 4}, "warning"),
    ("5. VIP: at least an error", {"handle": "Jane_Press", "reach": 50}, {"vip": ["@jane_press"]}, "error"),
    (
        "5. VIP about the brand skips the spread rule",
        {"about": True, "handle": "jane", "reach": 50},
        {"vip": ["jane"]},
        "error",
    ),
    ("6. pile-on: one level up", {"reach": 1_000, "complaining": 3}, {}, "warning"),
    ("6. blame, addressed: one level up", {"reach": 1_000, "severity": 4}, {}, "warning"),
    ("6. blame, about: no change", {"about": True, "reach": 5_000, "reposts": 3, "severity": 4}, {}, "info"),
    ("6. pile-on and blame: two levels up", {"reach": 1_000, "severity": 4, "complaining": 3}, {}, "error"),
    ("6. never above critical", {"reach": 10**7, "severity": 4, "complaining": 3}, {}, "critical"),
]


@pytest.mark.parametrize(("rule", "cascade_kw", "policy_kw", "expected"), RULES, ids=[r[0] for r in RULES])
def test_severity_rules(rule: str, cascade_kw: dict[str, Any], policy_kw: dict[str, Any], expected: str | None) -> None:
    policies = Policies.build(Policy(), {"Acme": policy_kw} if policy_kw else {})
    got = decide(state(**cascade_kw), policies)
    assert (got[0].severity if got else None) == expected, (rule, got)
    if got:
        assert all(r.endswith(".") for r in got[0].reasons)


def test_forecast_thresholds_are_the_brands_own() -> None:
    ahead = Outlook(600.0, 10, 100.0, 80.0, 300.0, 60_000.0, 40_000.0, 200_000.0, 120.0, False)
    s = state(reach=1_000, reposts=10)
    assert decide(s, Policy(), ahead)[0].severity == "warning"
    strict = Policies.build(Policy(), {"Acme": {"forecast_reach": [1_000, 150_000, 500_000, 2_000_000]}})
    assert decide(s, strict, ahead)[0].severity == "info"


def test_other_brands_keep_the_default_policy() -> None:
    policies = Policies.build(Policy(), {"Acme": {"reach": [10**6] * 4}})
    assert decide(state(reach=1_000, brand="Globex"), policies)[0].severity == "info"
    assert decide(state(reach=1_000), policies) == []


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"reach": [1, 2, 3]}, "policy reach: expected four whole numbers"),
        ({"reach": [5, 4, 3, 2]}, "policy reach: thresholds must rise"),
        ({"min_complaint_probability": 1.5}, "within 0..1"),
        ({"min_severity": 5}, "expected 1 (no explicit reproach) .. 4 (blame)"),
        ({"vip": "jane"}, "policy vip: expected a list of handles"),
        ({"pile_on_replies": -1}, "expected a whole number >= 0"),
        ({"colour": "red"}, "unknown policy key 'colour'"),
        ({"reminder_minutes": [1, 2]}, "policy reminder_minutes: expected four numbers of minutes"),
        ({"pile_on_window_minutes": 0}, "policy pile_on_window_minutes: expected a number of minutes > 0"),
        ({"pile_on_authors": [3, 2, 12, 25]}, "policy pile_on_authors: thresholds must rise"),
        ({"forecast_lean": 1.5}, "policy forecast_lean: expected a number within 0..1"),
        ({"complaint_share": 1}, "policy complaint_share: expected the share of the brand's posts"),
        ({"complaint_share": True}, "policy complaint_share: expected the share of the brand's posts"),
    ],
)
def test_bad_policy_tables_are_clear_errors(table: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        Policies.build(Policy(), {"Acme": table}, source="brands.toml")


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
    assert_valid_escalation(ev)
    with pytest.raises(AssertionError, match="severity"):
        assert_valid_escalation({**ev, "data": {**data, "severity": "urgent"}})
    again = event(s, d, action, now=datetime(2026, 11, 23, tzinfo=UTC), source="urn:test")
    assert again["id"] == ev["id"], "the id must be stable for the same key and severity"


def repost(i: int, seconds: float, followers: int = 400) -> Any:
    """Repost number ``i`` of the root "r", ``seconds`` after it, by its own account."""
    return classified(
        id=f"x{i}",
        kind="repost",
        parent_id="r",
        root_id="r",
        created_at=at(seconds),
        author={"id": f"u{i}", "followers": followers},
    )


def hot_cascade(reposts: int, every: float = 20.0, followers: int = 400) -> tuple[Any, Any]:
    """A complaint by a small account, reposted fast."""
    t, s = cascade(300)
    for i in range(reposts):
        s = t.apply(repost(i, every * (i + 1), followers))
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
    ev = event(s, d, action, now=datetime(2026, 11, 22, 15, tzinfo=UTC), source="urn:test", outlook=ahead)
    assert_valid_escalation(ev)
    f = ev["data"]["forecast"]
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


def test_leaning_towards_the_interval_top_escalates_sooner_and_says_how_far() -> None:
    _, s = hot_cascade(20)
    ahead = outlook(s, FORECASTER)
    assert ahead is not None and ahead.potential_reach_high > 2 * ahead.potential_reach
    half = ((ahead.potential_reach + 1) * (ahead.potential_reach_high + 1)) ** 0.5 - 1
    warning = round((ahead.potential_reach + half) / 2)
    levels = (1_000, warning, 10 * warning, 100 * warning)
    point = Policy(**{**POLICY.__dict__, "forecast_thresholds": levels, "forecast_lean": 0.0})
    leaning = Policy(**{**point.__dict__, "forecast_lean": 0.5})
    assert decide(s, point, ahead)[0].severity == "info"
    (d,) = decide(s, leaning, ahead)
    assert d.severity == "warning"
    assert any(f"leaning 50% of the way to the interval's top, {half:,.0f} passes" in r for r in d.reasons)
    table = Policies.build(point, {"Acme": {"forecast_lean": 0.5}}, source="brands.toml")
    assert decide(s, table, ahead) == decide(s, leaning, ahead)


def test_growing_forecast_upgrades() -> None:
    t, s = hot_cascade(6, every=60.0)  # observed 6 minutes
    first = transitions(s, decide(s, POLICY, outlook(s, FORECASTER)))
    assert [a for _, a in first] == ["open"]
    t.save(s)
    level = s.escalated["Acme"]
    for i in range(6, 200):
        s = t.apply(repost(i, 360 + 5 * i))
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


def test_a_brand_that_is_mostly_complaints_escalates_what_the_model_doubts() -> None:
    # 0.5 at the training set's 36% is about 0.88 where 80% of posts are complaints.
    _, s = cascade(5_000, probability=0.5)
    trained = Policy(model_complaint_share=0.36)
    assert decide(s, trained) == []
    (d,) = decide(s, Policies.build(trained, {"Acme": {"complaint_share": 0.8}}))
    assert d.probability == pytest.approx(0.877, abs=0.001)
    assert "probability 88%, for Acme's 80% share of complaints; the model says 50%" in d.reasons[0]
    ev = event(s, d, "open", now=datetime(2026, 11, 22, 15, tzinfo=UTC), source="urn:t")
    assert ev["data"]["complaint_probability"] == pytest.approx(0.877, abs=0.001)
    assert_valid_escalation(ev)


def test_a_brand_that_is_rarely_complained_to_needs_more_evidence() -> None:
    _, s = cascade(5_000, probability=0.7)
    assert decide(s, Policy(model_complaint_share=0.36))
    assert decide(s, Policy(model_complaint_share=0.36, complaint_share=0.1)) == []


def test_without_the_models_share_nothing_is_adjusted() -> None:
    _, s = cascade(5_000, probability=0.5)
    assert decide(s, Policy(complaint_share=0.8)) == []
    assert Policy.from_settings(Settings()).model_complaint_share == pytest.approx(987 / 2750, abs=1e-4)
