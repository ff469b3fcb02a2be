"""The escalation desk: customer history, pile-ons, lifecycle, feedback, reminders."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from pipeline.escalation import Policy
from pipeline.escalation.desk import Desk
from pipeline.escalation.feedback import InvalidFeedback, parse
from pipeline.records import BrandSignal
from tests.escalation.test_policy import state
from tests.factories import assert_valid_escalation

T0 = datetime(2026, 11, 22, 14, 0, tzinfo=UTC)
POLICY = Policy(pile_on_authors=(3, 5, 8, 12), reminder_seconds=(0.0, 3600.0, 1800.0, 600.0))


def desk() -> Desk:
    return Desk({}, {}, {}, POLICY, "urn:test")


def complaint(author: str, cascade: str, minutes: float = 0.0, brand: str = "Acme") -> BrandSignal:
    at = (T0 + timedelta(minutes=minutes)).isoformat()
    return BrandSignal(
        "complaint",
        brand,
        at,
        complaint={
            "author_id": author,
            "author_handle": author,
            "author_followers": 100,
            "cascade_key": f"twitter:{cascade}",
            "post_key": f"twitter:{cascade}-{author}",
            "url": f"https://t.example/{cascade}/{author}",
            "text": f"{author}: my widget broke",
            "at": at,
            "addressed": True,
            "probability": 0.9,
            "root": True,
        },
    )


def decision(severity: str = "info", cascade: str = "r", author: str = "alice", reach: int = 1_000) -> BrandSignal:
    from pipeline.escalation import decide, event

    s = state(reach=reach, handle=author)
    s.key = f"twitter:{cascade}"
    (d,) = decide(s, Policy())
    draft = event(s, d, "open", now=T0, source="urn:test")
    draft["data"]["severity"] = severity
    return BrandSignal("decision", "Acme", T0.isoformat(), draft=draft, author_id=author)


def feedback(key: str, action: str, by: str = "sam", note: str | None = None) -> BrandSignal:
    fb = parse(orjson.dumps({"dedup_key": key, "action": action, "by": by, "note": note}))
    return BrandSignal("feedback", fb.brand, T0.isoformat(), feedback=fb.to_dict())


def actions(events: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    for e in events:
        assert_valid_escalation(e)
    return [(e["data"]["action"], e["data"]["severity"], e["data"]["status"]) for e in events]


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_open_then_upgrade_only_when_severity_rises() -> None:
    d = desk()
    assert actions(d.handle(decision("info"), 0, at(0)).events) == [("open", "info", "open")]
    assert d.handle(decision("info"), 0, at(1)).events == []
    assert actions(d.handle(decision("error"), 0, at(2)).events) == [("upgrade", "error", "open")]


def test_repeat_complainer_raises_a_level_and_shows_history() -> None:
    d = desk()
    d.handle(complaint("alice", "old", minutes=-600), 0, at(-600))
    d.handle(complaint("alice", "r"), 0, at(0))
    (e,) = d.handle(decision("info", author="alice"), 0, at(0)).events
    assert e["data"]["severity"] == "warning"
    assert any("has complained about Acme before: 1 earlier conversation(s)" in r for r in e["data"]["reasons"])
    h = e["data"]["customer_history"]
    assert h["complaints"] == 2 and h["conversations"] == 2 and len(h["links"]) == 2
    assert h["first_at"] == (T0 - timedelta(minutes=600)).isoformat()
    # A first-time complainer is not raised.
    d.handle(complaint("bob", "r2"), 0, at(1))
    (e,) = d.handle(decision("info", cascade="r2", author="bob"), 0, at(1)).events
    assert e["data"]["severity"] == "info" and e["data"]["customer_history"]["complaints"] == 1


def test_only_earlier_conversations_make_a_repeat_complainer() -> None:
    # The desk hears of Bob's second complaint (later, another partition) before it
    # decides on his first: the first is not raised by the second.
    d = desk()
    d.handle(complaint("bob", "later", minutes=30), 0, at(30))
    d.handle(complaint("bob", "r"), 0, at(31))
    (e,) = d.handle(decision("info", author="bob"), 0, at(31)).events
    assert e["data"]["severity"] == "info" and e["data"]["customer_history"]["conversations"] == 2


def test_pile_on_opens_and_upgrades_as_customers_join() -> None:
    d = desk()
    got: list[dict[str, Any]] = []
    for i, author in enumerate(["a", "b", "c", "c", "d", "e"]):
        got += d.handle(complaint(author, f"k{i}", minutes=i), 0, at(i)).events
    assert actions(got) == [("open", "info", "open"), ("upgrade", "warning", "open")]
    p = got[-1]["data"]
    assert p["kind"] == "pile_on" and p["dedup_key"].startswith("Acme/pile-on/") and p["cascade"] is None
    assert p["pile_on"]["authors"] == 5 and len(p["pile_on"]["complaints"]) == 5
    assert p["reasons"][0].startswith("5 different customers complained about Acme within 30 minutes (@a, @b")
    # Once the window has emptied, the next customers start a new episode; the burst
    # before is now part of Acme's usual rate (6 complaints in 2 hours: about 1.5 a window),
    # so it takes 3 x 1.45 -> 5 customers, not the floor of 3.
    later = [d.handle(complaint(a, f"z{a}", minutes=120 + i), 0, at(120 + i)).events for i, a in enumerate("vwxyz")]
    assert [len(e) for e in later] == [0, 0, 0, 0, 1]
    (new,) = later[4]
    assert new["data"]["action"] == "open" and new["data"]["dedup_key"] != p["dedup_key"]
    assert new["data"]["pile_on"]["usual_per_window"] == pytest.approx(1.5, abs=0.06)
    assert new["data"]["pile_on"]["needed"][0] == 5
    assert "Acme's usual 1.5 complaints per 30 minutes over the last 7 days" in new["data"]["reasons"][1]


def test_a_steadily_busy_brand_makes_no_pile_on() -> None:
    # 4 complaints every 30 minutes for a day: 4 customers in a window is its normal rate.
    d = desk()
    got = []
    for i in range(48 * 4):
        minutes = i * 7.5
        got += d.handle(complaint(f"c{i}", f"b{i}", minutes=minutes), 0, at(minutes)).events
    assert [e["data"]["kind"] for e in got] == ["pile_on"], "only the first window, before any rate was known"
    # Then a surge: 15 customers in 10 minutes.
    surge = []
    for i in range(15):
        minutes = 48 * 4 * 7.5 + i * 0.6
        surge += d.handle(complaint(f"s{i}", f"s{i}", minutes=minutes), 0, at(minutes)).events
    assert surge and surge[0]["data"]["pile_on"]["usual_per_window"] == pytest.approx(4.0, abs=0.1)


def test_pile_on_window_is_event_time_and_late_complaints_stay_out() -> None:
    d = desk()
    for i, a in enumerate("ab"):
        d.handle(complaint(a, f"k{a}", minutes=60 + i), 0, at(i))
    # Posted an hour before the others (it arrived late): not in their window.
    assert d.handle(complaint("old", "kold", minutes=0), 0, at(2)).events == []
    # Within the allowed lateness (5 minutes behind the newest): it joins.
    (e,) = d.handle(complaint("c", "kc", minutes=57), 0, at(3)).events
    listed = e["data"]["pile_on"]["complaints"]
    assert {c["author_handle"] for c in listed} == {"a", "b", "c"}
    times = [datetime.fromisoformat(c["at"]) for c in listed]
    assert max(times) - min(times) <= timedelta(minutes=30)


def test_history_is_the_customers_own_conversations_only() -> None:
    d = desk()
    # Bob complained in Alice's conversation (not his own), then started his own.
    joined = complaint("bob", "alices", minutes=0)
    assert joined.complaint is not None
    joined.complaint.update(root=False, own=False)
    d.handle(joined, 0, at(0))
    d.handle(complaint("bob", "bobs", minutes=10), 0, at(10))
    (e,) = d.handle(decision("info", cascade="bobs", author="bob"), 0, at(10)).events
    assert e["data"]["severity"] == "info", "a reply in someone else's conversation is not a history"
    assert e["data"]["customer_history"]["conversations"] == 1


def test_acknowledge_stops_reminders_and_is_published() -> None:
    d = desk()
    (opened,) = d.handle(decision("error"), 0, at(0)).events
    key = opened["data"]["dedup_key"]
    tick = BrandSignal("tick", "", at(0).isoformat())
    assert d.handle(tick, 0, at(29)).events == []
    assert actions(d.handle(tick, 0, at(31)).events) == [("reminder", "error", "open")]
    assert d.handle(tick, 0, at(45)).events == [], "the next reminder is one SLA after the last"
    assert d.handle(tick, 1, at(62)).events == [], "each partition reminds of its own escalations"
    (ack,) = d.handle(feedback(key, "acknowledge", note="on it"), 0, at(63)).events
    assert actions([ack]) == [("acknowledge", "error", "acknowledged")]
    assert ack["data"]["feedback"] == {"action": "acknowledge", "by": "sam", "note": "on it", "at": None}
    assert ack["data"]["reasons"][-1] == "sam marked it acknowledged: on it"
    assert d.handle(feedback(key, "acknowledge"), 0, at(64)).events == [], "said twice: once"
    assert d.handle(tick, 0, at(200)).events == []


def test_resolved_reopens_only_when_it_grows_past_its_level() -> None:
    d = desk()
    (opened,) = d.handle(decision("warning"), 0, at(0)).events
    key = opened["data"]["dedup_key"]
    assert actions(d.handle(feedback(key, "resolve"), 0, at(5)).events) == [("resolve", "warning", "resolved")]
    assert d.handle(decision("warning"), 0, at(6)).events == []
    (again,) = d.handle(decision("error"), 0, at(7)).events
    assert actions([again]) == [("reopen", "error", "open")]
    assert again["data"]["reasons"][-1] == "It was resolved at warning and has grown since."


def test_false_positive_silences_and_becomes_a_training_example() -> None:
    d = desk()
    (opened,) = d.handle(decision("warning"), 0, at(0)).events
    key = opened["data"]["dedup_key"]
    out = d.handle(feedback(key, "false_positive", note="sarcasm"), 0, at(1))
    assert actions(out.events) == [("false_positive", "warning", "false_positive")]
    (c,) = out.corrections
    assert (c.text, c.label, c.dedup_key, c.reported_by, c.note) == ("text", 0, key, "sam", "sarcasm")
    assert d.handle(decision("critical"), 0, at(2)).events == []
    assert d.handle(feedback(key, "resolve"), 0, at(3)).events == []


def test_a_false_positive_leaves_the_customers_history() -> None:
    d = desk()
    d.handle(complaint("alice", "r"), 0, at(0))
    (opened,) = d.handle(decision("info", author="alice"), 0, at(0)).events
    d.handle(feedback(opened["data"]["dedup_key"], "false_positive"), 0, at(1))
    assert "Acme|alice" not in d.history
    d.handle(complaint("alice", "r9", minutes=5), 0, at(5))
    (e,) = d.handle(decision("info", cascade="r9", author="alice"), 0, at(5)).events
    assert e["data"]["severity"] == "info", "an earlier false positive does not make a repeat complainer"


def test_feedback_for_an_unknown_escalation_is_rejected() -> None:
    out = desk().handle(feedback("Acme/twitter:nope", "acknowledge"), 0, at(0))
    assert out.events == [] and out.rejected and "does not know: 'Acme/twitter:nope'" in out.rejected


def test_event_ids_are_stable_for_a_replay() -> None:
    a, b = desk(), desk()
    for d in (a, b):
        d.handle(decision("error"), 0, at(0))
    tick = BrandSignal("tick", "", at(0).isoformat())
    assert a.handle(tick, 0, at(31)).events[0]["id"] == b.handle(tick, 0, at(31)).events[0]["id"]


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{nope", "not valid JSON"),
        (b"[1]", "expected a JSON object"),
        (b'{"dedup_key": "Acme/x", "action": "close", "by": "s"}', "action: 'close' is not one of"),
        (b'{"dedup_key": "nobrand", "action": "resolve", "by": "s"}', "dedup_key: 'nobrand' does not match"),
        (b'{"dedup_key": "Acme/x", "action": "resolve"}', "feedback: 'by' is a required property"),
    ],
)
def test_bad_feedback_gets_a_clear_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(InvalidFeedback, match=reason.replace("[", r"\[")):
        parse(raw)


def test_the_schema_examples_are_valid_feedback() -> None:
    from pipeline import schemas

    for example in schemas.load("feedback.v1.json")["examples"]:
        assert parse(orjson.dumps(example)).dedup_key == example["dedup_key"]


def test_an_earlier_complaint_arriving_late_raises_the_later_conversation() -> None:
    d = desk()
    d.handle(complaint("bob", "r4", minutes=30), 0, at(30))
    (first,) = d.handle(decision("info", cascade="r4", author="bob"), 0, at(30)).events
    assert first["data"]["severity"] == "info"
    # Bob's first complaint, 30 minutes older, reaches the desk only now.
    out = d.handle(complaint("bob", "r2", minutes=0), 0, at(31))
    (up,) = [e for e in out.events if e["data"]["dedup_key"] == "Acme/twitter:r4"]
    assert actions([up]) == [("upgrade", "warning", "open")]
    assert "has complained about Acme before: 1 earlier conversation(s)" in up["data"]["reasons"][-1]
    # Raised once: neither another old complaint nor a new decision raises it again.
    assert not [e for e in d.handle(complaint("bob", "r1", minutes=-10), 0, at(32)).events if "r4" in e["subject"]]
    assert d.handle(decision("info", cascade="r4", author="bob"), 0, at(33)).events == []


def test_a_complaint_heard_again_changes_nothing() -> None:
    # A replay after a crash, or the at-least-once hop into the desk, delivers it twice.
    d = desk()
    first = complaint("alice", "r")
    d.handle(first, 0, at(0))
    assert d.handle(first, 0, at(1)).events == []
    (e,) = d.handle(decision("info", author="alice"), 0, at(1)).events
    h = e["data"]["customer_history"]
    assert h["complaints"] == 1 and h["links"] == [first.complaint["url"]], h  # type: ignore[index]
    assert len(d.pile_ons["Acme"]["complaints"]) == 1


def about(signal: BrandSignal, topic: str | None, team: str | None) -> BrandSignal:
    assert signal.complaint is not None
    signal.complaint.update(topic=topic, team=team)
    return signal


def test_a_pile_on_goes_to_the_team_of_the_topic_most_of_it_is_about() -> None:
    d = desk()
    topics = [("outage", "noc"), ("billing", "billing-desk"), ("billing", "billing-desk"), (None, None)]
    got: list[dict[str, Any]] = []
    for i, (author, (topic, team)) in enumerate(zip("abcd", topics, strict=True)):
        got += d.handle(about(complaint(author, f"k{i}", minutes=i), topic, team), 0, at(i)).events
    # Opened at 3 customers: billing twice, outage once.
    (opened,) = got
    assert (opened["data"]["topic"], opened["data"]["team"]) == ("billing", "billing-desk")
    # Outage piles in; at 5 customers the upgrade stays on the desk it opened on.
    for i, author in enumerate("efg", start=4):
        got += d.handle(about(complaint(author, f"k{i}", minutes=i), "outage", "noc"), 0, at(i)).events
    upgrade = got[-1]["data"]
    assert upgrade["action"] == "upgrade" and (upgrade["topic"], upgrade["team"]) == ("billing", "billing-desk")


def test_complaints_without_a_topic_make_an_other_pile_on() -> None:
    d = desk()
    got = [e for i, a in enumerate("abc") for e in d.handle(complaint(a, f"k{i}", minutes=i), 0, at(i)).events]
    assert (got[0]["data"]["topic"], got[0]["data"]["team"]) == ("other", None)
    assert_valid_escalation(got[0])


def test_a_cascade_escalation_keeps_the_team_it_opened_with() -> None:
    d = desk()
    first = decision("info")
    assert first.draft is not None
    first.draft["data"].update(topic="billing", team="billing-desk")
    (opened,) = d.handle(first, 0, at(0)).events
    assert opened["data"]["team"] == "billing-desk"
    worse = decision("error")
    assert worse.draft is not None
    worse.draft["data"].update(topic="outage", team="noc")
    (upgraded,) = d.handle(worse, 0, at(1)).events
    assert upgraded["data"]["action"] == "upgrade"
    assert (upgraded["data"]["topic"], upgraded["data"]["team"]) == ("billing", "billing-desk")
