"""``flashpoint relay``: forward escalations to the tools ops teams already use.

Each event on the escalations topic becomes one HTTP request:

- ``pagerduty``: a PagerDuty Events API v2 event (``/v2/enqueue``). The dedup_key is
  Flashpoint's, so one cascade is one PagerDuty incident that upgrades in place.
  ``open``, ``upgrade``, ``reminder`` and ``reopen`` trigger it, ``acknowledge``
  acknowledges it, and ``resolve`` and ``false_positive`` resolve it.
- ``alertmanager``: Alertmanager v2 alerts (``POST /api/v2/alerts``) labelled with the
  brand, severity and dedup_key. Alertmanager identifies an alert by its labels, so
  each event fires the alert at its severity and ends the same escalation's alerts at
  the other three: one firing alert per dedup_key, replaced on an upgrade. It fires
  for ``alert_hours`` unless a ``resolve`` or ``false_positive`` ends it sooner.

- ``webhook``: the CloudEvent itself (``application/cloudevents+json``).

``min_severity`` drops events below it (committed, not sent): an escalation reaches
the receiver once it is that severe, and its later events (acknowledge, resolve) carry
its severity then, so they follow.

Routing by team (the watchlist topic's owner, ``data.team``): ``teams`` relays only
those teams' escalations, so one relay per team sends each team's to its own receiver
(its own ``--url``); PagerDuty takes an integration key per team
(``FLASHPOINT_PAGERDUTY_ROUTING_KEYS``); Alertmanager alerts carry ``team`` and
``topic`` labels for its own routing tree.

Delivery is at least once. A message's offset is committed only after the receiver
accepted it (2xx). Connection errors, timeouts, 408, 429 and 5xx are retried with
exponential backoff and jitter (at most ``max_backoff`` seconds apart), for as long as
it takes: the relay never skips an escalation because a receiver is down. Any other
4xx is a permanent refusal, and retrying would block every later event. Such an event
goes, with the receiver's answer, to the relay's dead-letter topic and is committed.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

import aiohttp
import orjson

from pipeline.escalation import LEVELS

log = logging.getLogger(__name__)

Kind = Literal["pagerduty", "alertmanager", "webhook"]
KINDS: tuple[Kind, ...] = ("pagerduty", "alertmanager", "webhook")
RETRY_STATUSES = frozenset({408, 429}) | frozenset(range(500, 600))

_PAGERDUTY_ACTION = {
    "open": "trigger",
    "upgrade": "trigger",
    "reminder": "trigger",
    "reopen": "trigger",
    "acknowledge": "acknowledge",
    "resolve": "resolve",
    "false_positive": "resolve",
}


def summary(event: dict[str, Any], limit: int = 1024) -> str:
    """One sentence for a pager: severity, brand, author, reach, the post."""
    d = event["data"]
    root = d["root_post"]
    text = " ".join(str(root.get("text") or "").split())
    s = (
        f"[{d['severity']}] {d['brand']}: complaint by @{root['author_handle']} "
        f"({root['author_followers']:,} followers), potential reach {d['reach']['potential']:,}"
    )
    f = d.get("forecast")
    if f:
        s += f", forecast {f['potential_reach']:,}"
    s += f': "{text}"'
    return s if len(s) <= limit else s[: limit - 3] + "..."


def routing_keys(spec: str) -> dict[str, str]:
    """``team=key,team=key`` (FLASHPOINT_PAGERDUTY_ROUTING_KEYS) as a mapping."""
    out: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        team, eq, key = part.partition("=")
        if not eq or not team.strip() or not key.strip():
            # Never the key itself in the message: it is a secret.
            raise ValueError("FLASHPOINT_PAGERDUTY_ROUTING_KEYS: each entry is team=key")
        out[team.strip()] = key.strip()
    return out


def pagerduty(event: dict[str, Any], routing_key: str) -> dict[str, Any]:
    d = event["data"]
    action = _PAGERDUTY_ACTION.get(d["action"], "trigger")
    body: dict[str, Any] = {"routing_key": routing_key, "event_action": action, "dedup_key": d["dedup_key"]}
    if action != "trigger":
        return body
    root = d["root_post"]
    body["payload"] = {
        "summary": summary(event),
        "source": root.get("url") or f"{root['platform']}:{root['id']}",
        "severity": d["severity"],
        "timestamp": event["time"],
        "component": d["brand"],
        "group": "flashpoint",
        "class": "complaint",
        "custom_details": {
            "action": d["action"],
            "reasons": d["reasons"],
            "reach": d["reach"],
            "forecast": d.get("forecast"),
            "complaint_probability": d["complaint_probability"],
            "complaint_severity": d.get("complaint_severity"),
            "topic": d.get("topic"),
            "team": d.get("team"),
            "author": {k: root[k] for k in ("author_handle", "author_followers", "author_verified")},
            "text": root.get("text"),
        },
    }
    body["client"] = "Flashpoint"
    if root.get("url"):
        body["links"] = [{"href": root["url"], "text": "the post"}]
    return body


def alertmanager(event: dict[str, Any], alert_hours: float = 24.0) -> list[dict[str, Any]]:
    """The event's alert first, then the same escalation's alerts at the other
    severities, ended now (an alert Alertmanager never saw is stored as resolved)."""
    d = event["data"]
    root = d["root_post"]
    now = datetime.fromisoformat(event["time"])
    ended = d["action"] in ("resolve", "false_positive")
    out = []
    for severity in (d["severity"], *(x for x in LEVELS if x != d["severity"])):
        firing = severity == d["severity"] and not ended
        alert: dict[str, Any] = {
            "labels": {
                "alertname": "FlashpointEscalation",
                "severity": severity,
                "brand": d["brand"],
                "dedup_key": d["dedup_key"],
                # Alertmanager's routing tree matches on these; an empty label is no label.
                **{k: str(d[k]) for k in ("team", "topic") if d.get(k)},
            },
            "annotations": {
                "summary": summary(event, 500),
                "description": " ".join(d["reasons"]),
                "action": d["action"] if severity == d["severity"] else f"replaced by {d['severity']}",
            },
            "startsAt": now.isoformat(),
            "endsAt": (now + timedelta(hours=alert_hours) if firing else now).isoformat(),
        }
        if root.get("url"):
            alert["generatorURL"] = root["url"]
        out.append(alert)
    return out


def passes(event: dict[str, Any], min_severity: str) -> bool:
    """Whether ``event`` is at least ``min_severity`` (an unknown severity passes: the
    receiver, or the dead-letter topic, says what is wrong with it)."""
    sev = event.get("data", {}).get("severity")
    if sev not in LEVELS:
        return True
    return LEVELS.index(sev) >= LEVELS.index(min_severity)


@dataclass(frozen=True)
class Target:
    kind: Kind
    url: str
    routing_key: str = ""
    alert_hours: float = 24.0
    min_severity: str = "info"
    # Only these teams' escalations (any case); empty: every one.
    teams: frozenset[str] = frozenset()
    # PagerDuty: team -> integration key; a team not here uses routing_key.
    routing_keys: Mapping[str, str] = field(default_factory=dict)

    def wants(self, event: dict[str, Any]) -> bool:
        """Whether this relay sends ``event`` (severity and team)."""
        if not passes(event, self.min_severity):
            return False
        team = str(event.get("data", {}).get("team") or "")
        return not self.teams or team.lower() in self.teams

    def request(self, event: dict[str, Any]) -> tuple[bytes, str]:
        """The body and content type to send for ``event``."""
        if self.kind == "pagerduty":
            team = str(event["data"].get("team") or "")
            key = self.routing_keys.get(team, self.routing_key)
            return orjson.dumps(pagerduty(event, key)), "application/json"
        if self.kind == "alertmanager":
            return orjson.dumps(alertmanager(event, self.alert_hours)), "application/json"
        return orjson.dumps(event), "application/cloudevents+json"


@dataclass(frozen=True)
class Outcome:
    accepted: bool  # False: refused for good (a 4xx other than 408 and 429)
    status: int
    attempts: int
    answer: str  # the receiver's body, shortened


async def deliver(
    session: aiohttp.ClientSession,
    target: Target,
    body: bytes,
    content_type: str,
    *,
    first_backoff: float = 0.5,
    max_backoff: float = 30.0,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> Outcome:
    """POST until the receiver accepts or refuses for good."""
    attempt = 0
    while True:
        attempt += 1
        try:
            async with session.post(target.url, data=body, headers={"Content-Type": content_type}) as r:
                answer = (await r.text())[:500]
                if 200 <= r.status < 300:
                    return Outcome(True, r.status, attempt, answer)
                if r.status not in RETRY_STATUSES:
                    return Outcome(False, r.status, attempt, answer)
                problem = f"HTTP {r.status}: {answer[:200]}"
        except (aiohttp.ClientError, TimeoutError) as exc:
            problem = f"{type(exc).__name__}: {exc}"
        delay = min(max_backoff, first_backoff * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)
        log.warning("relay to %s: attempt %d failed (%s); retrying in %.1f s", target.kind, attempt, problem, delay)
        await sleep(delay)


async def run(
    bootstrap_servers: str,
    topic: str,
    dead_letter_topic: str,
    group_id: str,
    target: Target,
    stop: asyncio.Event,
    timeout: float = 10.0,
    **client: Any,
) -> None:
    """Relay ``topic`` to ``target`` until ``stop`` is set, committing each message's
    offset after the receiver accepted it (or after a permanent refusal went to
    ``dead_letter_topic``)."""
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

    from pipeline.kafka_admin import start_clients

    consumer = AIOKafkaConsumer(
        topic,
        **client,
        bootstrap_servers=bootstrap_servers,
        group_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers, acks="all", **client)
    await start_clients(consumer, producer)
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session:
            while not stop.is_set():
                batch = await consumer.getmany(timeout_ms=500)
                for tp, messages in batch.items():
                    for m in messages:
                        await _relay_one(session, target, producer, dead_letter_topic, m)
                        await consumer.commit({TopicPartition(tp.topic, tp.partition): m.offset + 1})
    finally:
        await producer.stop()
        await consumer.stop()


async def _relay_one(
    session: aiohttp.ClientSession, target: Target, producer: Any, dead_letter_topic: str, m: Any
) -> None:
    where = f"{m.topic}[{m.partition}]@{m.offset}"
    try:
        event = orjson.loads(m.value or b"")
        body, content_type = target.request(event)
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        await _dead_letter(producer, dead_letter_topic, m, f"not an escalation event: {exc!r}", 0, "")
        return
    if not target.wants(event):
        log.debug("relay: %s below %s or another team's, not sent", where, target.min_severity)
        return
    outcome = await deliver(session, target, body, content_type)
    if outcome.accepted:
        log.info("relayed %s to %s (HTTP %d, %d attempt(s))", where, target.kind, outcome.status, outcome.attempts)
        return
    await _dead_letter(
        producer,
        dead_letter_topic,
        m,
        f"{target.kind} refused it: HTTP {outcome.status}",
        outcome.status,
        outcome.answer,
    )


async def _dead_letter(producer: Any, topic: str, m: Any, reason: str, status: int, answer: str) -> None:
    log.error("relay: %s[%d]@%d to the dead-letter topic: %s %s", m.topic, m.partition, m.offset, reason, answer)
    headers = [
        ("flashpoint.relay.reason", reason.encode()),
        ("flashpoint.relay.status", str(status).encode()),
        ("flashpoint.relay.answer", answer.encode()),
        ("flashpoint.relay.source", f"{m.topic}[{m.partition}]@{m.offset}".encode()),
    ]
    await producer.send_and_wait(topic, m.value or b"", key=m.key, headers=headers)
