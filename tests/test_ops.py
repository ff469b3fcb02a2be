"""The one-event-per-paragraph view ops read in the demo and `flashpoint escalations`."""

from __future__ import annotations

from datetime import UTC, datetime

from pipeline.escalation import Policy, decide, event
from pipeline.ops import format_escalation
from pipeline.reach import Forecaster, outlook
from pipeline.settings import Settings
from tests.test_escalation import hot_cascade


def test_escalation_reads_as_sentences_with_the_forecast() -> None:
    _, s = hot_cascade(30, every=20.0)
    ahead = outlook(s, Forecaster.load(Settings().reach_model))
    (d,) = decide(s, Policy(), ahead)
    text = format_escalation(event(s, d, "open", now=datetime(2026, 11, 22, 15, tzinfo=UTC), source="u", outlook=ahead))
    assert "OPEN    Acme: @user" in text and "reach 12,300 | 31 participants" in text
    assert "forecast after 10 min: reach " in text and "(80%: " in text
    assert "key=Acme/twitter:r" in text
