"""Consumer lag as Kafka sees it: the group's committed offsets against the end of
each partition, and the age of the oldest message not yet processed.

The probe uses clients of its own, outside Faust: the committed offset is read back
from the group coordinator, so the figure is what a restart would resume from, not
what this process believes it has done. Each worker reports only the partitions it owns,
so a partition's series comes from one worker at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from pipeline import metrics

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PartitionLag:
    topic: str
    partition: int
    end: int
    committed: int
    messages: int
    oldest_age_seconds: float


def lag_of(
    topic: str, partition: int, end: int, committed: int, oldest_timestamp: float | None, now: float
) -> PartitionLag:
    """``oldest_timestamp`` is the Unix time of the record at ``committed``, or None
    when no record is left there (only transaction markers, or nothing)."""
    if oldest_timestamp is None:
        return PartitionLag(topic, partition, end, committed, 0, 0.0)
    return PartitionLag(topic, partition, end, committed, max(0, end - committed), max(0.0, now - oldest_timestamp))


class LagProbe:
    """Samples lag for a consumer group. ``start`` once, ``sample`` as often as wanted."""

    def __init__(self, bootstrap_servers: str, group_id: str, timeout: float = 2.0, **client: Any) -> None:
        self.group_id = group_id
        self.timeout = timeout
        self._kw = {"bootstrap_servers": bootstrap_servers, "request_timeout_ms": int(timeout * 1000) + 1000, **client}
        self._admin: AIOKafkaAdminClient | None = None
        self._consumer: AIOKafkaConsumer | None = None

    async def start(self) -> None:
        """Connect (aiokafka clients bind to the running loop, so not in __init__)."""
        admin = AIOKafkaAdminClient(**self._kw)
        # read_committed: the end is the last stable offset, so an open transaction's
        # messages are not lag yet, and aborted ones never are.
        consumer = AIOKafkaConsumer(
            **self._kw, group_id=None, enable_auto_commit=False, isolation_level="read_committed"
        )
        await admin.start()
        try:
            await consumer.start()
        except BaseException:
            await admin.close()
            raise
        self._admin, self._consumer = admin, consumer

    async def stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
        if self._admin is not None:
            await self._admin.close()

    @property
    def started(self) -> bool:
        return self._consumer is not None

    @property
    def admin(self) -> AIOKafkaAdminClient:
        if self._admin is None:
            raise RuntimeError("LagProbe.start() first")
        return self._admin

    @property
    def consumer(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            raise RuntimeError("LagProbe.start() first")
        return self._consumer

    async def sample(self, owned: Iterable[tuple[str, int]], now: float | None = None) -> list[PartitionLag]:
        tps = [TopicPartition(t, p) for t, p in owned]
        if not tps:
            return []
        now = time.time() if now is None else now
        committed_meta = await self.admin.list_consumer_group_offsets(self.group_id, partitions=tps)
        ends = await self.consumer.end_offsets(tps)
        starts = await self.consumer.beginning_offsets(tps)
        committed: dict[TopicPartition, int] = {}
        for tp in tps:
            meta = committed_meta.get(tp)
            # Nothing committed yet: the group starts from the earliest offset.
            c = meta.offset if meta is not None and meta.offset >= 0 else starts[tp]
            committed[tp] = max(c, starts[tp])
        behind = [tp for tp in tps if committed[tp] < ends[tp]]
        oldest = await self._timestamps_at(behind, committed, ends) if behind else {}
        return [lag_of(tp.topic, tp.partition, ends[tp], committed[tp], oldest.get(tp), now) for tp in tps]

    async def _timestamps_at(
        self, tps: list[TopicPartition], offsets: dict[TopicPartition, int], ends: dict[TopicPartition, int]
    ) -> dict[TopicPartition, float]:
        """The timestamp of the first record at or after each offset (before the end)."""
        c = self.consumer
        c.assign(tps)
        c.resume(*tps)
        for tp in tps:
            c.seek(tp, offsets[tp])
        found: dict[TopicPartition, float] = {}
        open_ = set(tps)
        deadline = time.monotonic() + self.timeout
        try:
            while open_ and time.monotonic() < deadline:
                batches = await c.getmany(*open_, timeout_ms=200, max_records=len(open_) * 4)
                for tp, records in batches.items():
                    if tp in open_ and records:
                        found[tp] = records[0].timestamp / 1000.0
                        open_.discard(tp)
                for tp in list(open_):
                    # Past the end with no record: only transaction markers were left.
                    if await c.position(tp) >= ends[tp]:
                        open_.discard(tp)
        finally:
            # Paused between samples: the consumer would otherwise keep prefetching. (Not
            # unassigned: aiokafka 0.14's fetcher then hangs in stop().)
            c.pause(*tps)
        # Still open at the deadline: the broker is slow; the offset is behind for sure,
        # so report lag with an unknown (zero) age rather than none at all.
        return found | {tp: time.time() for tp in open_}


class Sampler(Protocol):
    @property
    def started(self) -> bool: ...

    async def start(self) -> None: ...

    async def sample(self, owned: Iterable[tuple[str, int]], now: float | None = None) -> list[PartitionLag]: ...


async def report(probe: Sampler, owned: set[tuple[str, int]], timeout: float) -> bool:
    """One lag sample into the metrics; False when the broker did not answer (counted,
    logged, and left to /ready: the last figures stay as they were)."""
    try:
        if not probe.started:
            await probe.start()
        lags = await asyncio.wait_for(probe.sample(sorted(owned)), timeout)
    except Exception as exc:
        metrics.LAG_PROBE_ERRORS.inc()
        log.warning("lag probe failed: %r", exc)
        return False
    for lag in lags:
        # A rebalance may have moved the partition away while the sample ran.
        if (lag.topic, lag.partition) in owned:
            metrics.CONSUMER_LAG.labels(lag.topic, str(lag.partition)).set(lag.messages)
            metrics.CONSUMER_LAG_SECONDS.labels(lag.topic, str(lag.partition)).set(lag.oldest_age_seconds)
    return True


def forget(partitions: Iterable[tuple[str, int]]) -> None:
    """Drop the lag series of partitions this worker no longer owns: their new owner
    reports them, and two series of one partition would double every sum."""
    for topic, partition in partitions:
        for gauge in (metrics.CONSUMER_LAG, metrics.CONSUMER_LAG_SECONDS):
            with contextlib.suppress(KeyError):
                gauge.remove(topic, str(partition))
