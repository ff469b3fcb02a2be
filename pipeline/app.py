"""The Faust application: topics, tables and the two agents, wired to :mod:`pipeline.flow`.

    mentions --ingest--> mentions.classified --track--> escalations
        \\--> mentions.dead-letter

``build(settings)`` makes the one app object; the worker command, the demo and the
broker tests all go through it. Agents only move messages: what happens to a mention
is decided by plain functions in :mod:`pipeline.flow`.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import faust
from faust.types import StreamT

from pipeline import flow, metrics
from pipeline.brands import Watchlist
from pipeline.escalation import Policy, encode
from pipeline.flow import Classifier, Incoming
from pipeline.reach import CascadeTracker
from pipeline.records import ClassifiedMention
from pipeline.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class Flashpoint:
    """The app object and everything hanging off it, for the CLI and tests."""

    settings: Settings
    app: faust.App
    topics: dict[str, faust.TopicT]
    model: Classifier
    watchlist: Watchlist


def broker_urls(bootstrap_servers: str) -> list[str]:
    return [f"kafka://{s.strip()}" for s in bootstrap_servers.split(",") if s.strip()]


def build(settings: Settings, model: Classifier, watchlist: Watchlist) -> Flashpoint:
    s = settings
    app = faust.App(
        s.app_id,
        broker=broker_urls(s.bootstrap_servers),
        store="memory://",
        processing_guarantee=s.processing_guarantee,
        topic_partitions=s.partitions,
        topic_replication_factor=s.replication_factor,
        topic_allow_declare=True,
        consumer_auto_offset_reset="earliest",
        web_enabled=s.web_port > 0,
        web_port=s.web_port or 6066,
        datadir=str(s.data_dir),
        # Tables hold cascades for days; the in-memory store rebuilds from the changelog.
        table_cleanup_interval=300.0,
        broker_commit_every=100,
        broker_commit_interval=1.0,
        # Faust's default 300 ms linger adds to every escalation's latency for no gain here.
        producer_linger=0.005,
        # A classification batch runs in an executor, yet be generous: a rebalance storm
        # costs far more than a late heartbeat.
        broker_session_timeout=30.0,
        broker_heartbeat_interval=3.0,
        broker_rebalance_timeout=s.rebalance_timeout_seconds,
    )
    raw: dict[str, Any] = {"key_type": bytes, "value_type": bytes, "key_serializer": "raw",
                           "value_serializer": "raw"}
    topics = {
        "mentions": app.topic(s.topic_mentions, partitions=s.partitions, **raw),
        "dead_letter": app.topic(s.topic_dead_letter, partitions=s.partitions, **raw),
        "classified": app.topic(s.topic_classified, partitions=s.partitions, internal=True, **raw),
        "escalations": app.topic(s.topic_escalations, partitions=s.partitions, **raw),
    }
    table_kw: dict[str, Any] = {"partitions": s.partitions, "key_type": str, "value_type": Any}
    tracker = CascadeTracker(
        cascades=app.Table("cascades", default=None, help="cascade key -> CascadeState", **table_kw),
        participants=app.Table("participants", default=None, help="cascade|author -> True", **table_kw),
        posts=app.Table("posts", default=None, help="post key -> depth (also dedup)", **table_kw),
        max_pending=s.max_pending_per_cascade,
    )
    policy = Policy.from_settings(s)
    source = f"urn:flashpoint:{s.app_id}"
    # One thread: batches queue behind each other instead of sharing two cores badly,
    # and the event loop stays free for heartbeats and fetches.
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="classify")

    def ingest_timed(batch: list[Incoming]) -> flow.IngestResult:
        with metrics.CLASSIFY_SECONDS.time():
            return flow.ingest(batch, watchlist, model, datetime.now(UTC))

    @app.agent(topics["mentions"], name="ingest")
    async def ingest(stream: StreamT[bytes]) -> None:
        loop = asyncio.get_running_loop()
        async for events in stream.take_events(s.batch_size, within=s.batch_window_seconds):
            batch = [
                Incoming(e.value, e.key, e.message.topic, e.message.partition, e.message.offset)
                for e in events
            ]
            metrics.BATCH_SIZE.observe(len(batch))
            result = await loop.run_in_executor(executor, ingest_timed, batch)
            for msg, letter in result.dead:
                metrics.MENTIONS.labels("dead_letter").inc()
                metrics.DEAD_LETTERS.labels(letter.reason.split(":")[0].split(" ")[0][:40]).inc()
                log.warning("dead letter %s[%d]@%d: %s", msg.topic, msg.partition, msg.offset, letter.reason)
                await topics["dead_letter"].send(key=msg.key, value=msg.value or b"", headers=letter.headers())
            metrics.MENTIONS.labels("unmatched").inc(result.unmatched)
            for cm in result.forward:
                metrics.MENTIONS.labels("accepted").inc()
                await topics["classified"].send(key=cm.cascade_key.encode(), value=cm.to_json())
            classified = sum(1 for cm in result.forward if cm.complaint_probability is not None)
            metrics.CLASSIFIED.inc(classified)

    @app.agent(topics["classified"], name="track")
    async def track(stream: StreamT[bytes]) -> None:
        async for value in stream:
            cm = ClassifiedMention.from_json(value)
            now = datetime.now(UTC)
            metrics.MENTION_AGE.observe(max(0.0, (now - cm.mention.created_at).total_seconds()))
            if tracker.posts.get(cm.mention.key) is not None:
                metrics.DUPLICATES.inc()
                continue
            for ev in flow.track(cm, tracker, policy, now, source):
                data = ev["data"]
                metrics.ESCALATIONS.labels(data["severity"], data["action"]).inc()
                await topics["escalations"].send(
                    key=data["dedup_key"].encode(),
                    value=encode(ev),
                    headers=[("content-type", b"application/cloudevents+json")],
                )

    return Flashpoint(settings=s, app=app, topics=topics, model=model, watchlist=watchlist)
