"""The lag probe against a real broker and a real consumer group."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import GroupCoordinatorNotAvailableError
from aiokafka.structs import OffsetAndMetadata

from pipeline.telemetry.lag import LagProbe, PartitionLag

pytestmark = pytest.mark.broker


async def sample(probe: LagProbe, topic: str) -> PartitionLag:
    # A fresh broker creates its group-coordinator topic on first use: retry while it does.
    for _ in range(30):
        try:
            (lag,) = await probe.sample([(topic, 0)])
            return lag
        except GroupCoordinatorNotAvailableError:
            await asyncio.sleep(1)
    raise AssertionError("no group coordinator after 30 s")


async def _scenario(bootstrap: str) -> None:
    topic, group = f"lag-{uuid.uuid4().hex[:8]}", f"g-{uuid.uuid4().hex[:8]}"
    tp = TopicPartition(topic, 0)
    p = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await p.start()
    old = int((time.time() - 120) * 1000)
    for i in range(10):
        await p.send_and_wait(topic, b"x", partition=0, timestamp_ms=old + i * 1000)
    await p.stop()
    probe = LagProbe(bootstrap, group)
    await probe.start()
    try:
        lag = await sample(probe, topic)
        assert (lag.committed, lag.end, lag.messages) == (0, 10, 10), "nothing committed: from the start"
        assert 115 < lag.oldest_age_seconds < 135
        c = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
        c.assign([tp])
        await c.start()
        try:
            await c.commit({tp: OffsetAndMetadata(4, "")})
            lag = await sample(probe, topic)
            assert (lag.committed, lag.messages) == (4, 6)
            assert 111 < lag.oldest_age_seconds < 131, "the age of the record at offset 4"
            await c.commit({tp: OffsetAndMetadata(10, "")})
            lag = await sample(probe, topic)
            assert (lag.messages, lag.oldest_age_seconds) == (0, 0.0)
        finally:
            await c.stop()
        # A transactional producer leaves a commit marker after its records: a group that
        # processed every record (committed = last record + 1) is not behind.
        tx = AIOKafkaProducer(bootstrap_servers=bootstrap, transactional_id=f"tx-{uuid.uuid4().hex[:6]}")
        await tx.start()
        async with tx.transaction():
            await tx.send(topic, b"y", partition=0)
        await tx.stop()
        c = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
        c.assign([tp])
        await c.start()
        try:
            await c.commit({tp: OffsetAndMetadata(11, "")})
        finally:
            await c.stop()
        lag = await sample(probe, topic)
        assert lag.end == 12 and lag.committed == 11 and lag.messages == 0
    finally:
        await probe.stop()


def test_lag_probe_reads_the_group_and_the_log(kafka: str) -> None:
    asyncio.run(_scenario(kafka))
