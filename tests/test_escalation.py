from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pipeline.escalation import LEVELS, Policy, decide, event, transitions
from pipeline.reach import CascadeTracker
from pipeline.records import BrandMatch
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
