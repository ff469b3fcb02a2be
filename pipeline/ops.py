"""Tools for the people downstream: read escalations and dead letters as sentences."""

from __future__ import annotations

import asyncio
import contextlib
import textwrap
from collections.abc import Callable
from collections.abc import Set as AbstractSet
from datetime import UTC, datetime
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer

from pipeline.escalation import LEVELS
from pipeline.kafka_admin import start_clients
from pipeline.records import DeadLetter

_MARK = {"info": "INFO", "warning": "WARNING", "error": "ERROR", "critical": "CRITICAL"}


def format_escalation(event: dict[str, Any]) -> str:
    d = event["data"]
    root = d["root_post"]
    reach = d["reach"]
    head = f"[{_MARK.get(d['severity'], d['severity']).ljust(8)}] {d['action'].upper():7} " + _who(d)
    if d.get("topic"):
        head += f"  [{d['topic']}" + (f" -> {d['team']}]" if d.get("team") else "]")
    text = textwrap.shorten(root["text"] or "(no text)", 110, placeholder="...")
    figures = (
        f"reach {reach['potential']:,} | {d['participants']:,} participants | "
        f"{reach['reposts']} reposts, {reach['replies']} replies, {reach['quotes']} quotes | "
        f"complaint {d['complaint_probability']:.0%}"
        + (f", {d['complaint_severity']['label']}" if d.get("complaint_severity") else "")
    )
    lines = [head, f'    "{text}"', f"    {figures}"]
    f = d.get("forecast")
    if f:
        lo, hi = f["potential_reach_interval"]
        lines.append(
            f"    forecast after {f['observed_seconds'] / 60:.0f} min: reach {f['potential_reach']:,} "
            f"(80%: {lo:,} to {hi:,}), {f['final_reposts']:,.0f} reposts"
            + (" | supercritical" if f["supercritical"] else "")
        )
    lines += [f"    - {r}" for r in d["reasons"]]
    lines.append(f"    {root['url'] or ''}  key={d['dedup_key']}")
    return "\n".join(lines)


_COLOUR = {"info": "36", "warning": "33", "error": "31", "critical": "1;97;41"}


def passes(event: dict[str, Any], brands: set[str], min_severity: str, teams: AbstractSet[str] = frozenset()) -> bool:
    """``flashpoint tail``'s filters: one of ``brands`` and of ``teams`` (any case;
    empty: all) and at least ``min_severity``."""
    d = event.get("data") or {}
    if brands and str(d.get("brand", "")).lower() not in brands:
        return False
    if teams and str(d.get("team") or "").lower() not in teams:
        return False
    severity = d.get("severity")
    return severity in LEVELS and LEVELS.index(severity) >= LEVELS.index(min_severity)


def format_line(event: dict[str, Any], colour: bool = False) -> str:
    """One line per event: date and time (UTC), severity, action, brand, author and
    followers, reach now and forecast, complaint [topic -> team], the post (its date and words), why
    (every reason after the first, which only says it is a complaint), the link and
    the dedup key (what ``flashpoint feedback`` takes)."""
    d = event["data"]
    severity = d["severity"]
    mark = f"{severity.upper():8}"
    if colour:
        mark = f"\x1b[{_COLOUR.get(severity, '0')}m{mark}\x1b[0m"
    reach = f"reach {_short(d['reach']['potential'])}"
    f = d.get("forecast")
    if f:
        lo, hi = f["potential_reach_interval"]
        reach += f" -> {_short(f['potential_reach'])} ({_short(lo)}-{_short(hi)})"
    sev = d.get("complaint_severity")
    complaint = f"complaint {d['complaint_probability']:.0%}" + (f" {sev['label']}" if sev else "")
    if d.get("topic"):
        complaint += f" [{d['topic']}" + (f" -> {d['team']}]" if d.get("team") else "]")
    why = " ".join(d["reasons"][1:]) or d["reasons"][0]
    when = _when(str(event.get("time", "")))
    who = _who(d, short=True)
    post = d.get("complaint_post") or d["root_post"]
    text = textwrap.shorten(" ".join(str(post.get("text") or "").split()) or "(no text)", 100, placeholder="...")
    said = f'{_when(str(post.get("created_at", "")))} "{text}"'
    link = post.get("url") or f"{post.get('platform', '')}:{post.get('id', '')}"
    return f"{when} {mark} {d['action']:7} {who}  {reach}  {complaint}  | {said} | {why} | {link} key={d['dedup_key']}"


def _when(iso: str) -> str:
    """An ISO time as 'YYYY-MM-DD HH:MM' in UTC (as given when it cannot be read)."""
    try:
        t = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return iso
    if t.tzinfo is not None:
        t = t.astimezone(UTC)
    return t.strftime("%Y-%m-%d %H:%M")


def _who(d: dict[str, Any], short: bool = False) -> str:
    """Brand and author, or brand and the customers of a pile-on."""
    if d.get("kind") == "pile_on":
        p = d["pile_on"]
        return f"{d['brand']} pile-on: {p['authors']} customers within {int(p['window_seconds'] // 60)} minutes"
    root = d["root_post"]
    n = root["author_followers"]
    return f"{d['brand']}: @{root['author_handle']} ({_short(n) if short else f'{n:,} followers'})"


def _short(n: float) -> str:
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= size:
            return f"{n / size:.1f}".rstrip("0").rstrip(".") + suffix
    return f"{n:.0f}"


def format_dead_letter(value: bytes | None, headers: list[tuple[str, bytes]]) -> str:
    letter = DeadLetter.from_headers(headers)
    shown = (value or b"")[:80].decode(errors="replace")
    return (
        f"[DEAD LETTER] {letter.source_topic}[{letter.source_partition}]@{letter.source_offset}: "
        f"{letter.reason}\n    value: {shown!r}"
    )


async def follow(
    bootstrap_servers: str,
    topics: list[str],
    on_message: Callable[[str, bytes | None, list[tuple[str, bytes]]], None],
    stop: asyncio.Event,
    from_beginning: bool = True,
    **client: Any,
) -> None:
    """Call ``on_message(topic, value, headers)`` for every message until ``stop`` is set.

    Reads committed data only, so an aborted transaction's output never shows.
    ``client``: security options (:func:`pipeline.kafka_admin.security`).
    """
    consumer = AIOKafkaConsumer(
        *topics,
        **client,
        bootstrap_servers=bootstrap_servers,
        group_id=None,
        auto_offset_reset="earliest" if from_beginning else "latest",
        isolation_level="read_committed",
    )
    await start_clients(consumer)
    try:
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=300)
            for tp, messages in batch.items():
                for m in messages:
                    on_message(tp.topic, m.value, list(m.headers or ()))
    finally:
        await consumer.stop()


async def find_escalation(
    bootstrap_servers: str, topic: str, dedup_key: str, partitions: int | None = None, **client: Any
) -> dict[str, Any] | None:
    """The latest event of escalation ``dedup_key`` on ``topic``, or None when there is
    none. Escalations are keyed by dedup key, so only that key's partition is read, from
    its start to its end as of now."""
    from aiokafka import TopicPartition

    from pipeline.kafka_admin import partition_count
    from pipeline.records import partition_of

    consumer = AIOKafkaConsumer(
        **client,
        bootstrap_servers=bootstrap_servers,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
    )
    await start_clients(consumer)
    try:
        n = partitions if partitions is not None else await partition_count(bootstrap_servers, topic, **client)
        if not n:
            return None
        tp = TopicPartition(topic, partition_of(dedup_key, n))
        consumer.assign([tp])
        end = (await consumer.end_offsets([tp]))[tp]
        # An explicit seek: seek_to_beginning raced the consumer's own reset on assign.
        consumer.seek(tp, (await consumer.beginning_offsets([tp]))[tp])
        found = None
        want = dedup_key.encode()
        while await consumer.position(tp) < end:
            for messages in (await consumer.getmany(tp, timeout_ms=1000)).values():
                for m in messages:
                    if m.key == want:
                        with contextlib.suppress(ValueError):
                            found = orjson.loads(m.value or b"")
        return found
    finally:
        await consumer.stop()


def print_message(topic_escalations: str) -> Callable[[str, bytes | None, list[tuple[str, bytes]]], None]:
    def show(topic: str, value: bytes | None, headers: list[tuple[str, bytes]]) -> None:
        if topic == topic_escalations:
            print(format_escalation(orjson.loads(value or b"{}")), flush=True)
        else:
            print(format_dead_letter(value, headers), flush=True)
        print(flush=True)

    return show
