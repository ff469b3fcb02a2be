"""The Faust application: the one app object, its topics and tables, wired to the agents.

    mentions --ingest--> mentions.classified --track--> escalations.desk --track--> escalations
        |                                        ^                                      |
        +--> mentions.dead-letter                +-- feedback <-- escalations.feedback  +--> mentions.corrections

``build(settings, ...)`` makes it; the worker command, the demo, the replay and the
broker tests all go through it. It only wires: the agents and timers are in
:mod:`pipeline.agents`, the commits of the exactly-once stage in
:mod:`pipeline.checkpoint`, and what happens to a mention in :mod:`pipeline.flow`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import faust

from pipeline import faust_fixes
from pipeline.agents import feedback, ingest, timers, track
from pipeline.agents.ingest import MENTIONS_PER_BATCH, Ingester
from pipeline.brands import Watchlist
from pipeline.checkpoint import Checkpoint
from pipeline.escalation import Policies, Policy
from pipeline.escalation.desk import Desk
from pipeline.kafka_admin import faust_credentials
from pipeline.reach import CascadeTracker, Forecaster
from pipeline.settings import Settings
from pipeline.tables import Changes, RunTable
from pipeline.telemetry.health import Readiness
from pipeline.telemetry.sensor import KafkaSensor


@dataclass
class Flashpoint:
    """The app object and everything hanging off it, for the CLI and tests."""

    settings: Settings
    app: faust.App
    topics: dict[str, faust.TopicT]


def broker_urls(bootstrap_servers: str) -> list[str]:
    return [f"kafka://{s.strip()}" for s in bootstrap_servers.split(",") if s.strip()]


def make_app(s: Settings) -> faust.App:
    return faust.App(
        s.app_id,
        broker=broker_urls(s.bootstrap_servers),
        broker_credentials=faust_credentials(s),
        store="memory://",
        processing_guarantee=s.processing_guarantee,
        topic_partitions=s.partitions,
        topic_replication_factor=s.replication_factor,
        topic_allow_declare=True,
        consumer_auto_offset_reset="earliest",
        # Faust's web server would also serve its tables (customer data): /metrics,
        # /health and /ready come from pipeline.telemetry.health instead.
        web_enabled=False,
        datadir=str(s.data_dir),
        # Tables hold cascades for days; the in-memory store rebuilds from the changelog.
        table_cleanup_interval=300.0,
        # Faust's own commits could fire halfway through an event, between its escalation
        # and its table update; pipeline.checkpoint commits only between events.
        broker_commit_every=1_000_000_000,
        broker_commit_interval=1_000_000.0,
        # Faust's default 300 ms linger adds to every escalation's latency for no gain here.
        producer_linger=0.005,
        # acks=all: with min.insync.replicas=2 on a 3-node cluster, a record the worker
        # counts as sent survives the loss of any one broker.
        producer_acks=-1,
        # A classification batch runs in an executor, yet be generous: a rebalance storm
        # costs far more than a late heartbeat.
        broker_session_timeout=30.0,
        broker_heartbeat_interval=3.0,
        broker_rebalance_timeout=s.rebalance_timeout_seconds,
    )


def make_topics(app: faust.App, s: Settings) -> dict[str, faust.TopicT]:
    raw: dict[str, Any] = {"key_type": bytes, "value_type": bytes, "key_serializer": "raw", "value_serializer": "raw"}
    return {
        "mentions": app.topic(s.topic_mentions, partitions=s.partitions, **raw),
        "dead_letter": app.topic(s.topic_dead_letter, partitions=s.partitions, **raw),
        # One agent reads both stateful topics. Faust-streaming gives each group of
        # topics its own transactions, and a table written from another group's events
        # committed apart from them: with the desk on a topic of its own, a worker killed
        # mid-stream lost the desk's state but not the escalations it had published.
        "stateful": app.topic(s.topic_classified, s.topic_desk, partitions=s.partitions, internal=True, **raw),
        "escalations": app.topic(s.topic_escalations, partitions=s.partitions, **raw),
        "feedback": app.topic(s.topic_feedback, partitions=s.partitions, **raw),
        "corrections": app.topic(s.topic_corrections, partitions=s.partitions, **raw),
    }


def build(
    settings: Settings,
    ingester: Ingester,
    watchlist: Watchlist,
    readiness: Readiness | None = None,
    mentions_per_step: int | None = None,
) -> Flashpoint:
    """``mentions_per_step``: mentions the ingest agent takes at a time (default
    ``MENTIONS_PER_BATCH`` classification batches' worth)."""
    s = settings
    per_step = mentions_per_step or s.batch_size * MENTIONS_PER_BATCH
    readiness = readiness or Readiness()
    faust_fixes.apply()
    app = make_app(s)
    faust_fixes.bound_fetches(app, s.fetch_max_wait_seconds, s.fetch_min_bytes)
    topics = make_topics(app, s)
    # The track agent's table writes, sent once per run of events (pipeline.tables).
    changes = Changes()
    # No value_type: values are plain JSON; a typing construct there breaks changelog recovery.
    table_kw: dict[str, Any] = {"partitions": s.partitions, "key_type": str}

    def table(name: str, help: str) -> RunTable:
        return RunTable(app.Table(name, default=None, help=help, **table_kw), changes)

    def transactional_id(source: Any) -> str:
        # The id faust-streaming gives the transaction of a source partition.
        return f"{app.conf.id}-{app.assignor.group_for_topic(source.topic)}-{source.partition}"

    checkpoint = Checkpoint(
        app, changes, transactional_id, per_step=per_step, commit_interval=s.commit_interval_seconds
    )
    tracker = CascadeTracker(
        cascades=table("cascades", "cascade key -> CascadeState"),
        participants=table("participants", "cascade|author -> True"),
        posts=table("posts", "post key -> [depth, cascade key] (also dedup)"),
        max_pending=s.max_pending_per_cascade,
    )
    # A bad [brand.policy] table stops the worker here, before it consumes anything.
    policy = Policies.build(Policy.from_settings(s), watchlist.policy_tables(), str(s.watchlist))
    desk = Desk(
        lifecycle=table("lifecycle", "dedup key -> escalation status"),
        history=table("history", "brand|author -> past complaints"),
        pile_ons=table("pile_ons", "brand -> complaints in the window"),
        policies=policy,
        source=f"urn:flashpoint:{s.app_id}",
    )
    stage = track.Stage(s, checkpoint, tracker, desk, policy, Forecaster.load(s.reach_model), desk.source)

    app.agent(topics["mentions"], name="ingest")(ingest.agent(s, app, ingester, per_step))
    app.agent(topics["stateful"], name="track")(track.agent(stage))
    app.agent(topics["feedback"], name="feedback")(feedback.agent(s, app))
    partitions = timers.Partitions(s, app, checkpoint, tracker, readiness)
    partitions.connect()
    app.timer(timers.URGENT_COMMIT_SECONDS, name="commit")(checkpoint.tick)
    app.timer(s.tick_interval_seconds, on_leader=True, name="tick")(timers.desk_clock(s, app))
    app.timer(s.lag_interval_seconds, name="lag")(partitions.measure_lag)
    app.sensors.add(KafkaSensor())
    return Flashpoint(settings=s, app=app, topics=topics)
