"""The one-event-per-paragraph view ops read in the demo and `flashpoint escalations`."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from pipeline.escalation import Policy, decide, event
from pipeline.ops import format_escalation, format_line, passes
from pipeline.reach import Forecaster, outlook
from pipeline.settings import Settings
from tests.escalation.test_policy import hot_cascade


def test_escalation_reads_as_sentences_with_the_forecast() -> None:
    _, s = hot_cascade(30, every=20.0)
    ahead = outlook(s, Forecaster.load(Settings().reach_model))
    (d,) = decide(s, Policy(), ahead)
    text = format_escalation(event(s, d, "open", now=datetime(2026, 11, 22, 15, tzinfo=UTC), source="u", outlook=ahead))
    assert "OPEN    Acme: @user" in text and "reach 12,300 | 31 participants" in text
    assert "forecast after 10 min: reach " in text and "(80%: " in text
    assert "key=Acme/twitter:r" in text


def sample(severity: str = "warning", brand: str = "Acme", forecast: bool = True) -> dict[str, Any]:
    _, s = hot_cascade(30, every=20.0)
    ahead = outlook(s, Forecaster.load(Settings().reach_model)) if forecast else None
    (d,) = decide(s, Policy(), ahead)
    ev = event(s, d, "open", now=datetime(2026, 11, 22, 15, tzinfo=UTC), source="u", outlook=ahead)
    ev["data"]["severity"], ev["data"]["brand"] = severity, brand
    return ev


def test_tail_line_has_who_reach_forecast_and_why() -> None:
    ev = sample()
    line = format_line(ev)
    assert "\n" not in line and line.startswith("2026-11-22 15:00 WARNING  open    Acme: @user")
    d = ev["data"]
    assert f'| 2026-11-22 14:00 "{d["root_post"]["text"]}" |' in line, "the post: its date and words"
    assert line.endswith(f"| {d['root_post']['url']} key={d['dedup_key']}"), "the link and the key"
    assert re.search(r"reach 12\.3k -> [\d.]+[kM] \([\d.]+[kM]-[\d.]+[kM]\)", line), line
    assert "| Potential reach 12,300 people" in line and "Forecast: potential reach about" in line
    assert "-> " not in format_line(sample(forecast=False))
    coloured = format_line(sample("critical"), colour=True)
    assert coloured.count("\x1b[") == 2 and "\x1b[1;97;41mCRITICAL" in coloured


def test_tail_filters_by_brand_and_severity() -> None:
    assert passes(sample("warning"), set(), "info") and passes(sample("warning"), set(), "warning")
    assert not passes(sample("warning"), set(), "error")
    assert passes(sample(brand="Northwind Air"), {"northwind air"}, "info")
    assert not passes(sample(brand="Acme"), {"northwind air"}, "info")
    assert not passes({"data": {"severity": "bogus"}}, set(), "info")


def test_pile_ons_read_as_the_brand_and_its_customers() -> None:
    from tests.escalation.test_desk import at as minute
    from tests.escalation.test_desk import complaint, desk

    d = desk()
    events = [e for i, a in enumerate("abc") for e in d.handle(complaint(a, f"k{i}", minutes=i), 0, minute(i)).events]
    (pile,) = events
    assert "OPEN    Acme pile-on: 3 customers within 30 minutes" in format_escalation(pile)
    assert "open    Acme pile-on: 3 customers within 30 minutes  reach 300" in format_line(pile)


def routed(team: str | None, topic: str = "billing", **kw: Any) -> dict[str, Any]:
    ev = sample(**kw)
    ev["data"].update(topic=topic, team=team)
    return ev


def test_tail_filters_by_team_and_shows_the_topic_and_team() -> None:
    assert passes(routed("Billing-Desk"), set(), "info", {"billing-desk"})
    assert not passes(routed("noc"), set(), "info", {"billing-desk"})
    assert not passes(routed(None), set(), "info", {"billing-desk"}), "an unowned escalation is no team's"
    assert passes(routed(None), set(), "info"), "no --team: every team's"
    assert "complaint 9" in format_line(routed("billing-desk")) and "[billing -> billing-desk]" in format_line(
        routed("billing-desk")
    )
    assert "[other]" in format_line(routed(None, topic="other"))


def test_the_paragraph_view_heads_with_the_topic_and_team() -> None:
    assert format_escalation(routed("billing-desk")).splitlines()[0].endswith("[billing -> billing-desk]")
    assert format_escalation(routed(None, topic="other")).splitlines()[0].endswith("[other]")
