"""The track agent: mentions.classified and escalations.desk, exactly once.

One agent reads both stateful topics. Faust-streaming gives each group of topics its
own transactions, and a table written from another group's events committed apart from
them: with the desk on an agent of its own, a worker killed mid-stream lost the desk's
state but not the escalations it had published. Every event is committed with its
table writes and everything it sends, in its source partition's transaction
(:class:`pipeline.checkpoint.Checkpoint`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

import faust
import orjson
from aiokafka.errors import IllegalOperation, KafkaError
from faust.streams import Stream
from faust.types import StreamT

from pipeline import flow, metrics
from pipeline.agents import dead_lettered
from pipeline.checkpoint import Checkpoint
from pipeline.escalation import Policies, encode
from pipeline.escalation.desk import Desk
from pipeline.reach import CascadeTracker, Forecaster
from pipeline.records import BrandSignal, ClassifiedBatch, ClassifiedMention, DeadLetter
from pipeline.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class Stage:
    """What the track agent works with."""

    settings: Settings
    checkpoint: Checkpoint
    tracker: CascadeTracker
    desk: Desk
    policy: Policies
    forecaster: Forecaster
    source: str  # the escalations' CloudEvents source
    last_sweep: dict[int, float] = field(default_factory=dict)

    async def event(self, event: Any) -> int:
        """Handle one event of either topic; the mentions it held."""
        if event.message.topic == self.settings.topic_desk:
            try:
                await self.desk_signal(event)
            except Exception as exc:
                await self.dead_letter(event, exc, event.key or b"", event.value or b"")
            return 1
        return await self.record(event)

    async def record(self, event: Any) -> int:
        """The mentions of one ClassifiedBatch record, one by one. A mention that fails
        is dead-lettered on its own, as a ClassifiedMention (which this agent reads
        too, for a replay)."""
        try:
            items = ClassifiedBatch.items(event.value)
        except Exception as exc:
            await self.dead_letter(event, exc, event.key or b"", event.value or b"")
            return 1
        for i, item in enumerate(items):
            cm = None
            try:
                cm = ClassifiedMention.from_dict(item)
                await self.mention(event, cm)
            except Exception as exc:
                if len(items) == 1:  # the record as it is: a record of one replays as well
                    await self.dead_letter(event, exc, event.key or b"", event.value or b"")
                    continue
                key = cm.cascade_key.encode() if cm else b""
                where = f" in mention {i + 1} of {len(items)} of the record"
                await self.dead_letter(event, exc, key, orjson.dumps(item), where)
        return len(items)

    async def mention(self, event: Any, cm: ClassifiedMention) -> None:
        s = self.settings
        now = datetime.now(UTC)
        metrics.MENTION_AGE.observe(max(0.0, (now - cm.mention.created_at).total_seconds()))
        partition = event.message.partition
        if now.timestamp() - self.last_sweep.setdefault(partition, now.timestamp()) >= s.sweep_interval_seconds:
            self.last_sweep[partition] = now.timestamp()
            expired = self.tracker.sweep(partition, now.timestamp(), s.cascade_ttl_seconds)
            metrics.CASCADES_EXPIRED.inc(expired)
        if self.tracker.posts.get(cm.mention.key) is not None:
            metrics.MENTIONS.labels("duplicate").inc()
            log.debug("duplicate skipped", extra={"mention_id": cm.mention.key, "cascade_id": cm.cascade_key})
            return
        for sig in flow.track(cm, self.tracker, self.policy, now, self.source, self.forecaster, partition):
            if sig.kind == "decision":
                self.checkpoint.escalated()
            await self.checkpoint.send(event.message.tp, s.topic_desk, sig.brand.encode(), sig.to_json())

    async def desk_signal(self, event: Any) -> None:
        s = self.settings
        signal = BrandSignal.from_json(event.value)
        out = flow.desk(signal, self.desk, event.message.partition, datetime.now(UTC))
        where = f"{event.message.topic}[{event.message.partition}]@{event.message.offset}"
        tp = event.message.tp
        for ev in out.events:
            data = ev["data"]
            root = data.get("root_post")
            context = {
                "dedup_key": data["dedup_key"],
                "cascade_id": data.get("cascade"),
                "mention_id": f"{root['platform']}:{root['id']}" if root else None,
                "brand": data.get("brand"),
            }
            log.info("escalation %s %s (from %s)", data["action"], data["severity"], where, extra=context)
            self.checkpoint.escalated()
            headers = [("content-type", b"application/cloudevents+json")]
            await self.checkpoint.send(tp, s.topic_escalations, data["dedup_key"].encode(), encode(ev), headers)
            if signal.arrived_at is not None:
                metrics.END_TO_END_SECONDS.observe(max(0.0, time.time() - signal.arrived_at))
        for c in out.corrections:
            metrics.CORRECTIONS.inc()
            await self.checkpoint.send(tp, s.topic_corrections, f"{c.platform}:{c.post_id}".encode(), c.to_json())
        if out.rejected:
            metrics.FEEDBACK.labels("rejected").inc()
            letter = DeadLetter(out.rejected, s.topic_feedback, -1, -1, datetime.now(UTC), code="unknown_escalation")
            dead_lettered("feedback", letter, f"dead letter (from {where}): %s")
            value = orjson.dumps(signal.feedback)
            await self.checkpoint.send(tp, s.topic_dead_letter, signal.brand.encode(), value, letter.headers())

    async def dead_letter(self, event: Any, exc: Exception, key: bytes, value: bytes, item: str = "") -> None:
        """An event (or one mention of a record) this code cannot handle is a bug, but it
        must not stop its partition: unacked, it would hold every later commit back. It
        goes to the dead-letter topic, for a replay once fixed."""
        if isinstance(exc, KafkaError | IllegalOperation):
            # Kafka's failure (IllegalOperation: a send on a transaction the producer's
            # crash ended), not the event's: the agent fails and the worker starts
            # over, and the event is processed again (see Checkpoint.detach).
            raise exc
        m = event.message
        reason = f"processing failed ({type(exc).__name__}: {str(exc)[:200]}){item}; reported as a Flashpoint bug"
        letter = DeadLetter(reason, m.topic, m.partition, m.offset, datetime.now(UTC), code="processing_error")
        source = "mentions" if m.topic == self.settings.topic_classified else "desk"
        dead_lettered(source, letter, "event failed; dead-lettered: %s", failed=True)
        await self.checkpoint.send(m.tp, self.settings.topic_dead_letter, key, value, letter.headers())


def agent(stage: Stage) -> Callable[[StreamT[bytes]], Awaitable[None]]:
    checkpoint = stage.checkpoint

    async def track(source: StreamT[bytes]) -> None:
        stream = cast(Stream[bytes], source)
        manual = stream.noack()
        checkpoint.attach(manual)
        failure: BaseException | None = None
        try:
            async for event in manual.events():
                await checkpoint.take()
                mentions = await stage.event(event)
                caught_up = cast("faust.ChannelT[bytes]", stream.channel).empty()
                await checkpoint.done(event, mentions, caught_up)
        except Exception as exc:
            failure = exc
            raise
        finally:
            await checkpoint.detach(failure)

    return track
