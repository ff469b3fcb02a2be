"""The Faust application: topics, tables, three agents and three timers, wired to
:mod:`pipeline.flow`.

    mentions --ingest--> mentions.classified --track--> escalations.desk --track--> escalations
        |                                        ^                                      |
        +--> mentions.dead-letter                +-- feedback <-- escalations.feedback  +--> mentions.corrections

- ``ingest`` (agent): validate, match brands, classify (in a child process), forward
  one record per partition of ``mentions.classified``, or dead-letter.
- ``track`` (agent, exactly once): reads ``mentions.classified`` (cascade state, the
  policy) and ``escalations.desk`` (the desk: history, pile-ons, lifecycle), each event
  committed with its table writes and what it sends, in its source partition's
  transaction.
- ``feedback`` (agent): checks ops feedback and hands it to the desk.
- ``commit``, ``tick`` and ``lag`` (timers): an early commit once escalations are
  waiting, the desk's clock for reminders, and consumer lag for the metrics.

``build(settings)`` makes the one app object; the worker command, the demo and the
broker tests all go through it. Agents only move messages: what happens to a mention
is decided by plain functions in :mod:`pipeline.flow`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, cast

import faust
import orjson
from faust.streams import Stream
from faust.types import TP, StreamT

from pipeline import faust_fixes, flow, metrics
from pipeline.batching import ContinuousBatcher
from pipeline.brands import Watchlist
from pipeline.escalation import Policies, Policy, encode
from pipeline.escalation.desk import Desk
from pipeline.escalation.feedback import InvalidFeedback
from pipeline.escalation.feedback import parse as parse_feedback
from pipeline.flow import Incoming
from pipeline.kafka_admin import faust_credentials, security
from pipeline.reach import CascadeTracker, Forecaster
from pipeline.records import BrandSignal, ClassifiedBatch, ClassifiedMention, DeadLetter
from pipeline.settings import Settings
from pipeline.tables import Changes, RunTable
from pipeline.telemetry import lag
from pipeline.telemetry.health import Readiness
from pipeline.telemetry.lag import LagProbe
from pipeline.telemetry.sensor import KafkaSensor

log = logging.getLogger(__name__)

# Mentions taken per classification batch: about a third of a brand stream is posts
# and replies, and a batch of 64 mentions gave the model 19 texts (at 1.9x the cost
# per text of a full batch of 64).
MENTIONS_PER_BATCH = 4
# How soon a commit follows an escalation once the stream has caught up.
URGENT_COMMIT_SECONDS = 0.05


class Ingester(Protocol):
    """:func:`pipeline.flow.ingest` for a batch, off the event loop
    (:class:`pipeline.ingest_process.IngestProcess`)."""

    async def ingest(self, batch: list[Incoming]) -> flow.Encoded: ...


@dataclass
class Flashpoint:
    """The app object and everything hanging off it, for the CLI and tests."""

    settings: Settings
    app: faust.App
    topics: dict[str, faust.TopicT]


def dead_lettered(source: str, letter: DeadLetter, message: str = "dead letter: %s", failed: bool = False) -> None:
    """Count and log one dead letter; where it came from is in the letter itself.
    ``failed``: log it as an error with the traceback being handled (a Flashpoint bug)."""
    metrics.DEAD_LETTERS.labels(source, letter.code).inc()
    where: dict[str, Any] = {"topic": letter.source_topic, "reason_code": letter.code}
    if letter.source_offset >= 0:
        where |= {"partition": letter.source_partition, "offset": letter.source_offset}
    log.log(logging.ERROR if failed else logging.WARNING, message, letter.reason, extra=where, exc_info=failed)


def broker_urls(bootstrap_servers: str) -> list[str]:
    return [f"kafka://{s.strip()}" for s in bootstrap_servers.split(",") if s.strip()]


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
    app = faust.App(
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
        # and its table update; commit_offsets() below commits only between events.
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
    raw: dict[str, Any] = {"key_type": bytes, "value_type": bytes, "key_serializer": "raw", "value_serializer": "raw"}
    topics = {
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
    # No value_type: values are plain JSON; a typing construct there breaks changelog recovery.
    table_kw: dict[str, Any] = {"partitions": s.partitions, "key_type": str}
    # The stateful agent's table writes, sent once per run of events (pipeline.tables).
    changes = Changes()

    def table(name: str, help: str) -> RunTable:
        return RunTable(app.Table(name, default=None, help=help, **table_kw), changes)

    tracker = CascadeTracker(
        cascades=table("cascades", "cascade key -> CascadeState"),
        participants=table("participants", "cascade|author -> True"),
        posts=table("posts", "post key -> [depth, cascade key] (also dedup)"),
        max_pending=s.max_pending_per_cascade,
    )
    # A bad [brand.policy] table stops the worker here, before it consumes anything.
    policy = Policies.build(Policy.from_settings(s), watchlist.policy_tables(), str(s.watchlist))
    forecaster = Forecaster.load(s.reach_model)
    source = f"urn:flashpoint:{s.app_id}"
    desk = Desk(
        lifecycle=table("lifecycle", "dedup key -> escalation status"),
        history=table("history", "brand|author -> past complaints"),
        pile_ons=table("pile_ons", "brand -> complaints in the window"),
        policies=policy,
        source=source,
    )
    last_sweep: dict[int, float] = {}

    @app.agent(topics["mentions"], name="ingest")
    async def ingest(source: StreamT[bytes]) -> None:
        # StreamT's stubs lack noack, which the concrete Stream has. Events are acked by
        # the batcher once the records made from them are delivered.
        stream = cast(Stream[bytes], source).noack()

        async def step(events: list[Any]) -> Awaitable[Any]:
            began = time.monotonic()
            batch = [
                Incoming(e.value, e.key, e.message.topic, e.message.partition, e.message.offset, e.message.timestamp)
                for e in events
            ]
            result = await ingester.ingest(batch)
            for size, seconds in zip(result.batch_sizes, result.inference_seconds, strict=True):
                metrics.INFERENCE_BATCH_SIZE.observe(size)
                metrics.INFERENCE_SECONDS.observe(seconds)
            metrics.MODEL_ERRORS.inc(result.model_errors)
            # Sent outside the Kafka transaction, and delivered before the events are
            # acked: faust-streaming ties a transaction to the *destination* partition
            # number, so a re-keyed send could commit apart from (or long after) its
            # source offset. At-least-once here is safe: track() drops redelivered posts.
            producer = app.producer
            pending = []
            for msg, letter in result.dead:
                metrics.MENTIONS.labels("dead_letter").inc()
                dead_lettered("mentions", letter)
                pending.append(
                    await producer.send(s.topic_dead_letter, msg.key, msg.value or b"", None, None, letter.headers())
                )
            metrics.MENTIONS.labels("unmatched").inc(result.unmatched)
            metrics.MENTIONS.labels("matched").inc(result.forwarded - result.unmatched)
            # A record per partition of the classified topic (ClassifiedBatch).
            for partition, value in result.forward:
                pending.append(await producer.send(s.topic_classified, None, value, partition, None, None))
            metrics.CLASSIFIED.inc(result.classified)
            metrics.INGEST_STEP_SECONDS.observe(time.monotonic() - began)
            return asyncio.gather(*pending)

        async def ack(events: list[Any]) -> None:
            for event in events:
                await stream.ack(event)

        batcher = ContinuousBatcher[Any](step, ack, max_items=per_step, window=s.batch_window_seconds)
        await batcher.consume(stream.events())

    # Held from the moment track() takes an event until it is acked, and by each commit:
    # a commit (under exactly_once, a Kafka transaction per partition) then always holds
    # an event's table changes, its escalations and its offset together, or none of them.
    commit_lock = asyncio.Lock()
    # Set when a decision for the desk or an escalation for ops was sent: read_committed
    # consumers see neither before a commit. With the stream caught up, the commit then
    # comes within URGENT_COMMIT_SECONDS instead of commit_interval_seconds (each of the
    # two hops, cascade stage -> desk -> ops, waited up to that). With a backlog the
    # timer's pace is kept: a commit per run cost a saturated worker 30% of its time.
    escalating = asyncio.Event()
    pace = {"last_commit": 0.0, "caught_up": True}

    @app.timer(URGENT_COMMIT_SECONDS, name="commit")  # type: ignore[untyped-decorator]
    async def commit_offsets() -> None:
        # Nothing is processed from a rebalance's start until recovery has sought the
        # streams back to their committed offsets, so there is nothing to commit; and a
        # commit then would use Faust's stale bookkeeping (acks made after it dropped
        # its own) and could move a partition's committed offset backwards.
        if app.rebalancing:
            return
        due = time.monotonic() - pace["last_commit"] >= s.commit_interval_seconds
        urgent = escalating.is_set() and pace["caught_up"]
        if due or urgent:
            await commit_now()

    # The next offset to commit for each partition the track agent has acked since the
    # last commit. Faust keeps the same bookkeeping but drops it when a rebalance starts,
    # which is exactly when these offsets must still be committed (commit_before_handover).
    acked: dict[TP, int] = {}
    # Faust's own Consumer.commit, once guarded; and whether Faust has ended the
    # transactions for good (at shutdown).
    faust_commit: dict[str, Any] = {"commit": None, "ended": False}
    # The track agent's run of events not yet acked, and whether it waits for the next one.
    open_run: dict[str, Any] = {"stream": None, "events": [], "waiting": False}

    def guard_faust_commits() -> None:
        """Faust also commits by itself: in a rebalance, while it waits for the agents and
        then to end the transactions, from the bookkeeping it has just dropped (so a
        transaction that holds records but no acked offset stayed open); and on errors
        and at shutdown, possibly halfway through a run of events. Its commits now take
        the commit lock, and under exactly_once none happen in a rebalance:
        commit_before_handover commits instead."""
        consumer = app.consumer
        original = consumer.commit

        async def commit(*args: Any, **kwargs: Any) -> bool:
            # Faust commits while it waits for the agents to ack what they took. A run
            # left open while the track agent waits for more events (there will be none:
            # Faust has just emptied the queues) would keep it waiting forever.
            if open_run["waiting"] and open_run["events"]:
                await end_run(open_run["stream"], open_run["events"])
            if app.in_transaction and (app.rebalancing or faust_commit["ended"]):
                return False
            async with commit_lock:
                done = bool(await original(*args, **kwargs))
                if app.in_transaction and kwargs.get("start_new_transaction") is False:
                    # Faust ended the transactions (shutdown): one more commit, of acks
                    # made while the agents stop, would find none and raise.
                    faust_commit["ended"] = True
                return done

        consumer.commit = commit  # type: ignore[method-assign]
        faust_commit["commit"] = original

    async def commit_now() -> None:
        if faust_commit["commit"] is None:  # no partition assigned yet
            return
        async with commit_lock:
            pace["last_commit"] = time.monotonic()
            escalating.clear()
            await app.producer.buffer.flush()
            await faust_commit["commit"]()
            acked.clear()

    async def commit_before_handover() -> None:
        """End the track agent's transactions with what it has acked, before a rebalance.

        Faust-streaming leaves them open: those of the partitions that move are fenced by
        their next owner, but those of the partitions this worker keeps stay open with
        records whose offsets Faust has forgotten. Their changelog records held back the
        stable offset that table recovery waits for (pipeline.faust_fixes); after 60 s
        the broker aborted them and every later send failed ("Can't send messages while
        not in transaction"). No new transactions are begun here: Faust begins one for
        each partition it assigns.
        """
        async with commit_lock:
            escalating.clear()
            await app.producer.buffer.flush()
            if acked:
                await app.consumer.transactions.commit(dict(acked), start_new_transaction=False)
                acked.clear()

    @app.agent(topics["stateful"], name="track")
    async def track(source: StreamT[bytes]) -> None:
        stream = cast(Stream[bytes], source)
        manual = stream.noack()
        # Events are handled in runs of up to per_step mentions while more are queued: one
        # flush and one hold of the commit lock per run, not per event. Nothing is acked
        # before its table writes are in the producer, so no commit (ours, or Faust's on a
        # rebalance) can take an offset without the writes behind it.
        run: list[Any] = []
        open_run.update(stream=manual, events=run, waiting=False)
        mentions = 0
        try:
            async for event in manual.events():
                open_run["waiting"] = False
                if not run:
                    await commit_lock.acquire()
                    mentions = 0
                if event.message.topic == s.topic_desk:
                    try:
                        await desk_one(event)
                    except Exception as exc:
                        await dead_letter_internal(event, exc, event.key or b"", event.value or b"")
                    mentions += 1
                else:
                    mentions += await track_record(event)
                run.append(event)
                pace["caught_up"] = cast("faust.ChannelT[bytes]", stream.channel).empty()
                if pace["caught_up"] or mentions >= per_step:
                    await end_run(manual, run)
                open_run["waiting"] = bool(run)
        finally:
            if run:
                commit_lock.release()

    async def end_run(stream: Any, run: list[Any]) -> None:
        # Taken out first: end_run may also be called by Faust's commit (guard_faust_commits)
        # while the agent waits, and the agent must then start a run of its own.
        events = list(run)
        run.clear()
        open_run["waiting"] = False
        try:
            # The run's table writes go into the open transactions first.
            await changes.send(send_change)
            await app.producer.buffer.flush()
            for event in events:
                await stream.ack(event)
                acked[event.message.tp] = event.message.offset + 1
        finally:
            commit_lock.release()

    async def dead_letter_internal(event: Any, exc: Exception, key: bytes, value: bytes, item: str = "") -> None:
        """An event (or one mention of a record) this code cannot handle is a bug, but it
        must not stop its partition: unacked, it would hold every later commit back. It
        goes to the dead-letter topic, for a replay once fixed."""
        m = event.message
        reason = f"processing failed ({type(exc).__name__}: {str(exc)[:200]}){item}; reported as a Flashpoint bug"
        letter = DeadLetter(reason, m.topic, m.partition, m.offset, datetime.now(UTC), code="processing_error")
        source = "mentions" if m.topic == s.topic_classified else "desk"
        dead_lettered(source, letter, "event failed; dead-lettered: %s", failed=True)
        await send_in_transaction_of(event, s.topic_dead_letter, key, value, letter.headers())

    async def track_record(event: Any) -> int:
        """The mentions of one ClassifiedBatch record, one by one; how many it held. A
        mention that fails is dead-lettered on its own, as a ClassifiedMention (which
        this agent reads too, for a replay)."""
        try:
            items = ClassifiedBatch.items(event.value)
        except Exception as exc:
            await dead_letter_internal(event, exc, event.key or b"", event.value or b"")
            return 1
        for i, item in enumerate(items):
            cm = None
            try:
                cm = ClassifiedMention.from_dict(item)
                await track_one(event, cm)
            except Exception as exc:
                if len(items) == 1:  # the record as it is: a record of one replays as well
                    await dead_letter_internal(event, exc, event.key or b"", event.value or b"")
                    continue
                key = cm.cascade_key.encode() if cm else b""
                where = f" in mention {i + 1} of {len(items)} of the record"
                await dead_letter_internal(event, exc, key, orjson.dumps(item), where)
        return len(items)

    async def track_one(event: Any, cm: ClassifiedMention) -> None:
        now = datetime.now(UTC)
        metrics.MENTION_AGE.observe(max(0.0, (now - cm.mention.created_at).total_seconds()))
        partition = event.message.partition
        if now.timestamp() - last_sweep.setdefault(partition, now.timestamp()) >= s.sweep_interval_seconds:
            last_sweep[partition] = now.timestamp()
            expired = tracker.sweep(partition, now.timestamp(), s.cascade_ttl_seconds)
            metrics.CASCADES_EXPIRED.inc(expired)
        if tracker.posts.get(cm.mention.key) is not None:
            metrics.MENTIONS.labels("duplicate").inc()
            log.debug("duplicate skipped", extra={"mention_id": cm.mention.key, "cascade_id": cm.cascade_key})
            return
        for sig in flow.track(cm, tracker, policy, now, source, forecaster, partition):
            if sig.kind == "decision":
                escalating.set()
            await send_in_transaction_of(event, s.topic_desk, sig.brand.encode(), sig.to_json(), [])

    async def desk_one(event: Any) -> None:
        signal = BrandSignal.from_json(event.value)
        out = flow.desk(signal, desk, event.message.partition, datetime.now(UTC))
        where = f"{event.message.topic}[{event.message.partition}]@{event.message.offset}"
        for ev in out.events:
            data = ev["data"]
            context = {
                "dedup_key": data["dedup_key"],
                "cascade_id": data.get("cascade"),
                "mention_id": f"{data['root_post']['platform']}:{data['root_post']['id']}"
                if data.get("root_post")
                else None,
                "brand": data.get("brand"),
            }
            log.info("escalation %s %s (from %s)", data["action"], data["severity"], where, extra=context)
            escalating.set()
            await send_in_transaction_of(
                event,
                s.topic_escalations,
                data["dedup_key"].encode(),
                encode(ev),
                [("content-type", b"application/cloudevents+json")],
            )
            if signal.arrived_at is not None:
                metrics.END_TO_END_SECONDS.observe(max(0.0, time.time() - signal.arrived_at))
        for c in out.corrections:
            metrics.CORRECTIONS.inc()
            await send_in_transaction_of(
                event, s.topic_corrections, f"{c.platform}:{c.post_id}".encode(), c.to_json(), []
            )
        if out.rejected:
            metrics.FEEDBACK.labels("rejected").inc()
            letter = DeadLetter(out.rejected, s.topic_feedback, -1, -1, datetime.now(UTC), code="unknown_escalation")
            dead_lettered("feedback", letter, f"dead letter (from {where}): %s")
            value = orjson.dumps(signal.feedback)
            await send_in_transaction_of(event, s.topic_dead_letter, signal.brand.encode(), value, letter.headers())

    @app.agent(topics["feedback"], name="feedback")
    async def feedback_in(source: StreamT[bytes]) -> None:
        # Stateless and at least once: the desk ignores feedback it has already applied.
        stream = cast(Stream[bytes], source)
        async for event in stream.events():
            m = event.message
            try:
                fb = parse_feedback(event.value)
            except InvalidFeedback as exc:
                metrics.FEEDBACK.labels("dead_letter").inc()
                letter = DeadLetter(str(exc), m.topic, m.partition, m.offset, datetime.now(UTC), code=exc.code)
                dead_lettered("feedback", letter)
                await app.producer.send_and_wait(
                    s.topic_dead_letter, event.key, event.value or b"", None, None, letter.headers()
                )
                continue
            metrics.FEEDBACK.labels(fb.action).inc()
            sig = BrandSignal("feedback", fb.brand, datetime.now(UTC).isoformat(), feedback=fb.to_dict())
            await app.producer.send_and_wait(s.topic_desk, fb.brand.encode(), sig.to_json(), None, None, None)

    @app.timer(s.tick_interval_seconds, on_leader=True, name="tick")  # type: ignore[untyped-decorator]
    async def tick() -> None:
        # Through Kafka, one per partition: reminders are then decided inside the desk's
        # transactions, like everything else it publishes.
        sig = BrandSignal("tick", "", datetime.now(UTC).isoformat()).to_json()
        for p in range(s.partitions):
            await app.producer.send(s.topic_desk, None, sig, p, None, None)

    async def send_in_transaction_of(
        event: Any, topic: str, key: bytes, value: bytes, headers: list[tuple[str, bytes]]
    ) -> None:
        """Send as part of the transaction that will commit ``event``'s offset.

        Under exactly_once, faust-streaming keeps one transaction per source partition but
        sends a plain ``topic.send`` transactionally only to topics the app consumes, so an
        escalation would otherwise commit apart from the table update that records it.
        """
        await send_for(event.message.tp, topic, None, key, value, headers)

    async def send_change(changelog: str, source: TP, key: bytes, value: bytes | None) -> None:
        # A table's changelog partition is its source event's partition (Faust's rule).
        await send_for(source, changelog, source.partition, key, value, None)

    async def send_for(
        source: TP,
        topic: str,
        partition: int | None,
        key: bytes,
        value: bytes | None,
        headers: list[tuple[str, bytes]] | None,
    ) -> None:
        if not app.in_transaction:
            await app.producer.send(topic, key, value, partition, None, headers)
            return
        transactional_id = f"{app.conf.id}-{app.assignor.group_for_topic(source.topic)}-{source.partition}"
        await app.consumer.transactions.producer.send(
            topic, key, value, partition, None, headers, transactional_id=transactional_id
        )

    # -- telemetry ----------------------------------------------------------------------
    app.sensors.add(KafkaSensor())
    consumed = (s.topic_mentions, s.topic_classified, s.topic_desk, s.topic_feedback)
    owned: set[tuple[str, int]] = set()
    probe = LagProbe(s.bootstrap_servers, s.app_id, timeout=min(5.0, s.lag_interval_seconds), **security(s))

    async def on_assigned(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        if faust_commit["commit"] is None:
            guard_faust_commits()
        assigned = args[0] if args else kwargs.get("assigned", set())
        for name in consumed:
            metrics.ASSIGNED_PARTITIONS.labels(name).set(sum(1 for tp in assigned if tp.topic == name))
        owned.clear()
        owned.update((tp.topic, tp.partition) for tp in assigned if tp.topic in consumed)
        readiness.set(assigned=True, partitions=len(owned))

    async def on_revoked(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        readiness.set(assigned=False)
        lag.forget(owned)
        owned.clear()
        if app.in_transaction:
            # Faust has waited for the agents to ack what they took, and stopped the flow.
            await commit_before_handover()

    async def on_shutdown(sender: Any, /, *args: Any, **kwargs: Any) -> None:
        await probe.stop()

    app.on_partitions_assigned.connect(on_assigned)
    app.on_partitions_revoked.connect(on_revoked)
    app.on_before_shutdown.connect(on_shutdown)

    @app.timer(s.lag_interval_seconds, name="lag")  # type: ignore[untyped-decorator]
    async def measure_lag() -> None:
        if await lag.report(probe, owned, timeout=s.lag_interval_seconds):
            readiness.set(broker_ok_at=time.monotonic())
        active = {p for t, p in owned if t == s.topic_classified}
        metrics.ACTIVE_CASCADES.set(tracker.count(active))
        readiness.check()  # keeps flashpoint_ready current between probes

    return Flashpoint(settings=s, app=app, topics=topics)
