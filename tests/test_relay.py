"""The relay's payloads (PagerDuty Events API v2, Alertmanager v2, the CloudEvent) and
its delivery rules, against a local HTTP receiver."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiohttp
import orjson
import pytest

from pipeline import relay
from tests.broker.conftest import free_port
from tests.factories import assert_valid_escalation
from tests.receiver import receiver
from tests.test_ops import sample

ROUTING_KEY = "R0123456789abcdef0123456789abcde"  # PagerDuty integration keys: 32 characters


def check_pagerduty(body: dict[str, Any]) -> None:
    """What PagerDuty's Events API v2 requires (developer.pagerduty.com, "Send an Alert Event")."""
    assert body["routing_key"] == ROUTING_KEY and len(body["routing_key"]) == 32
    assert body["event_action"] in ("trigger", "acknowledge", "resolve")
    assert 0 < len(body["dedup_key"]) <= 255
    if body["event_action"] == "trigger":
        p = body["payload"]
        assert 0 < len(p["summary"]) <= 1024 and p["source"]
        assert p["severity"] in ("critical", "error", "warning", "info")
        datetime.fromisoformat(p["timestamp"])
        assert isinstance(p["custom_details"], dict)


def test_pagerduty_trigger_carries_the_escalation() -> None:
    ev = sample("error")
    body = relay.pagerduty(ev, ROUTING_KEY)
    check_pagerduty(body)
    d = ev["data"]
    assert body["event_action"] == "trigger" and body["dedup_key"] == d["dedup_key"]
    assert body["payload"]["severity"] == "error" and body["payload"]["component"] == "Acme"
    assert body["payload"]["custom_details"]["reasons"] == d["reasons"]
    assert body["payload"]["summary"].startswith("[error] Acme: complaint by @user")


@pytest.mark.parametrize(
    ("action", "pd"),
    [("upgrade", "trigger"), ("acknowledge", "acknowledge"), ("resolve", "resolve"), ("false_positive", "resolve")],
)
def test_pagerduty_actions(action: str, pd: str) -> None:
    ev = sample()
    ev["data"]["action"] = action
    body = relay.pagerduty(ev, ROUTING_KEY)
    check_pagerduty(body)
    assert body["event_action"] == pd
    assert ("payload" in body) is (pd == "trigger")


def test_summary_fits_a_pager() -> None:
    ev = sample()
    ev["data"]["root_post"]["text"] = "broken " * 500
    assert len(relay.summary(ev)) == 1024 and relay.summary(ev).endswith("...")


def test_alertmanager_alert() -> None:
    ev = sample("critical")
    alert, *others = relay.alertmanager(ev, alert_hours=6)
    assert [o["labels"]["severity"] for o in others] == ["info", "warning", "error"]
    assert all(o["endsAt"] == o["startsAt"] and o["labels"]["dedup_key"] == ev["data"]["dedup_key"] for o in others)
    assert alert["labels"] == {
        "alertname": "FlashpointEscalation",
        "severity": "critical",
        "brand": "Acme",
        "dedup_key": ev["data"]["dedup_key"],
        "topic": "other",
    }
    starts, ends = (datetime.fromisoformat(alert[k]) for k in ("startsAt", "endsAt"))
    assert (ends - starts).total_seconds() == 6 * 3600
    assert alert["annotations"]["description"] == " ".join(ev["data"]["reasons"])
    for action in ("resolve", "false_positive"):
        ev["data"]["action"] = action
        assert all(a["endsAt"] == a["startsAt"] for a in relay.alertmanager(ev)), action


def test_alertmanager_upgrade_replaces_the_alert() -> None:
    """Alertmanager's own rule: an alert is its label set, and the last post for it wins.
    After info then an upgrade to error, exactly one alert of the escalation fires."""
    state: dict[tuple[tuple[str, str], ...], str] = {}
    for severity, action in (("info", "open"), ("error", "upgrade")):
        ev = sample(severity)
        ev["data"]["action"] = action
        for a in relay.alertmanager(ev):
            state[tuple(sorted(a["labels"].items()))] = "firing" if a["endsAt"] > a["startsAt"] else "resolved"
    firing = [dict(k)["severity"] for k, v in state.items() if v == "firing"]
    assert firing == ["error"]


def test_min_severity_drops_lesser_events() -> None:
    assert not relay.passes(sample("info"), "warning")
    assert relay.passes(sample("warning"), "warning") and relay.passes(sample("critical"), "error")
    resolved = sample("error")
    resolved["data"]["action"] = "resolve"
    assert relay.passes(resolved, "error"), "an escalation's later events carry its severity"


@dataclass
class Message:  # what aiokafka hands the relay
    value: bytes
    topic: str = "escalations"
    partition: int = 0
    offset: int = 0
    key: bytes = b"k"


def test_relay_skips_events_below_min_severity() -> None:
    async def go(url: str) -> None:
        target = relay.Target("webhook", url, min_severity="error")
        async with aiohttp.ClientSession() as session:
            for severity in ("info", "warning", "error", "critical"):
                await relay._relay_one(session, target, None, "dlq", Message(orjson.dumps(sample(severity))))

    with receiver() as rec:
        asyncio.run(go(rec.url + "/hook"))
        assert [r["body"]["data"]["severity"] for r in rec.requests] == ["error", "critical"]


def post(target: relay.Target, event: dict[str, Any], **kw: Any) -> relay.Outcome:
    async def go() -> relay.Outcome:
        async with aiohttp.ClientSession() as session:
            body, ctype = target.request(event)
            return await relay.deliver(session, target, body, ctype, first_backoff=0.01, max_backoff=0.05, **kw)

    return asyncio.run(go())


def test_retries_until_the_receiver_accepts() -> None:
    with receiver() as rec:
        answers = iter([503, 429, 502])
        rec.answer = lambda path, body: next(answers, 202)
        got = post(relay.Target("pagerduty", rec.url + "/v2/enqueue", ROUTING_KEY), sample())
        assert got.accepted and got.status == 202 and got.attempts == 4
        assert [r["status"] for r in rec.requests] == [503, 429, 502, 202]
        for r in rec.requests:
            check_pagerduty(r["body"])
            assert r["path"] == "/v2/enqueue" and r["content_type"] == "application/json"


def test_a_permanent_refusal_is_not_retried() -> None:
    with receiver() as rec:
        rec.answer = lambda path, body: 400
        got = post(relay.Target("alertmanager", rec.url + "/api/v2/alerts"), sample())
        assert not got.accepted and got.status == 400 and got.attempts == 1
        assert "invalid event" in got.answer
        assert isinstance(rec.requests[0]["body"], list)


def test_connection_errors_are_retried() -> None:
    # Nothing listens at first; the receiver starts on that port after two failures.
    port = free_port()
    failures = 0
    with contextlib.ExitStack() as stack:

        async def sleep(_: float) -> None:
            nonlocal failures
            failures += 1
            if failures == 2:
                stack.enter_context(receiver(port))

        got = post(relay.Target("webhook", f"http://127.0.0.1:{port}/hook"), sample(), sleep=sleep)
    assert got.accepted and got.attempts == 3 and failures == 2


def test_webhook_sends_the_cloudevent() -> None:
    with receiver() as rec:
        ev = sample()
        assert post(relay.Target("webhook", rec.url + "/hook"), ev).accepted
        (r,) = rec.requests
        assert r["content_type"] == "application/cloudevents+json" and r["body"] == ev
        assert_valid_escalation(r["body"])


def teams_event(team: str | None, severity: str = "error") -> dict[str, Any]:
    ev = sample(severity)
    ev["data"].update(topic="billing" if team else "other", team=team)
    return ev


def test_one_relay_per_team_sends_only_that_teams_escalations() -> None:
    billing = relay.Target("webhook", "http://x/hook", teams=frozenset({"billing-desk"}))
    assert billing.wants(teams_event("Billing-Desk")) and not billing.wants(teams_event("noc"))
    assert not billing.wants(teams_event(None))
    assert relay.Target("webhook", "http://x/hook").wants(teams_event(None)), "no teams: all of them"
    severe = relay.Target("webhook", "http://x/hook", min_severity="critical", teams=frozenset({"noc"}))
    assert not severe.wants(teams_event("noc", "error"))


def test_pagerduty_takes_each_teams_integration_key() -> None:
    other_key = "B" * 32
    target = relay.Target("pagerduty", "http://x", ROUTING_KEY, routing_keys={"noc": other_key})
    assert orjson.loads(target.request(teams_event("noc"))[0])["routing_key"] == other_key
    assert orjson.loads(target.request(teams_event("billing-desk"))[0])["routing_key"] == ROUTING_KEY
    body = orjson.loads(target.request(teams_event("billing-desk"))[0])
    assert body["payload"]["custom_details"]["team"] == "billing-desk"


def test_routing_keys_are_read_and_a_bad_entry_does_not_echo_the_secret() -> None:
    assert relay.routing_keys("noc=K1, billing-desk = K2,") == {"noc": "K1", "billing-desk": "K2"}
    assert relay.routing_keys("") == {}
    with pytest.raises(ValueError, match="each entry is team=key") as err:
        relay.routing_keys("noc=K1,SECRETKEY")
    assert "SECRETKEY" not in str(err.value)


def test_alertmanager_alerts_carry_team_and_topic_labels_for_its_routing_tree() -> None:
    alerts = relay.alertmanager(teams_event("noc"))
    assert all(a["labels"]["team"] == "noc" and a["labels"]["topic"] == "billing" for a in alerts)
    unowned = relay.alertmanager(teams_event(None))
    assert all("team" not in a["labels"] and a["labels"]["topic"] == "other" for a in unowned)


def test_relay_sends_only_its_teams_events_to_its_receiver() -> None:
    async def go(url: str) -> None:
        target = relay.Target("webhook", url, teams=frozenset({"noc"}))
        async with aiohttp.ClientSession() as session:
            for team in ("noc", "billing-desk", None, "NOC"):
                await relay._relay_one(session, target, None, "dlq", Message(orjson.dumps(teams_event(team))))

    with receiver() as rec:
        asyncio.run(go(rec.url + "/hook"))
        assert [r["body"]["data"]["team"] for r in rec.requests] == ["noc", "NOC"]
