"""Changelog batches (pipeline.tables.send_batches) through a real broker's transactions."""

from __future__ import annotations

import asyncio
import uuid

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from pipeline.tables import Record, send_batches
from tests.broker.conftest import collect


async def _scenario(bootstrap: str) -> None:
    topic = f"changelog-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])
    finally:
        await admin.close()
    # Small batches: 60 records of about 40 bytes need several.
    tx = AIOKafkaProducer(
        bootstrap_servers=bootstrap, transactional_id=f"tx-{uuid.uuid4().hex[:6]}", max_batch_size=512
    )
    await tx.start()
    try:
        kept: list[Record] = [(f"key-{i}".encode(), None if i % 7 == 0 else b"value-%04d" % i) for i in range(60)]
        async with tx.transaction():
            assert await send_batches(tx, topic, 1, kept) > 2
        # An aborted transaction's batches never reach a read_committed reader.
        await tx.begin_transaction()
        await send_batches(tx, topic, 1, [(b"aborted", b"x")] * 20)
        await tx.abort_transaction()
        async with tx.transaction():
            await send_batches(tx, topic, 0, [(b"last", b"y")])
    finally:
        await tx.stop()
    got = await collect(bootstrap, topic, until=61, timeout=60, settle=1.0)
    assert sorted(got[i][:2] for i in range(len(got))) == sorted([*kept, (b"last", b"y")])
    assert [(k, v) for k, v, _ in got if k != b"last"] == kept  # in order within the partition


def test_changelog_batches_commit_and_abort_with_the_transaction(kafka: str) -> None:
    asyncio.run(_scenario(kafka))
