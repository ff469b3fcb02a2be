"""One fix to faust-streaming 0.15.3, applied when the worker builds its app.

Table recovery skipped changelogs under exactly_once. To find where each changelog
ends, faust asks its consumer for ``last_stable_offset(tp)``. aiokafka only knows that
value once a fetch for the partition has come back, and before that it returns None.
Faust reads None as "empty changelog" (-1) and starts the tables empty. A worker
restarted after a crash then lost its state: seen here as an escalation published a
second time after SIGKILL, in about two runs of three once the worker had six tables.
The fix asks the broker instead, with ``end_offsets``. aiokafka sends that
ListOffsets request with the consumer's isolation level, read_committed under
exactly_once, so the broker answers with the last stable offset itself. Related
reports: robinhood/aiokafka#7 and faust-streaming/faust#597.

It also waits until no transaction is pending on those partitions. Otherwise a worker
restarted right after SIGKILL could measure the last stable offset while the killed
worker's last commit was still being completed by the broker. Recovery then stopped
short of records that became committed a moment later, with their source offsets
committed too: the fault suite saw cascades lose reposts and escalations go missing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from aiokafka import TopicPartition
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

log = logging.getLogger(__name__)

_applied = False
# At most the transaction timeout: by then the broker has aborted any transaction left
# open by a killed worker.
SETTLE_SECONDS = 60.0


async def _log_ends(consumer: Any, partitions: list[Any]) -> dict[Any, int] | None:
    """The end of each partition's log, open transactions included (ListOffsets,
    read_uncommitted), or None when a leader is unknown."""
    from aiokafka.protocol.offset import OffsetRequest

    client = consumer._client
    await client._maybe_wait_metadata()
    by_node: dict[int, dict[str, list[tuple[int, int]]]] = defaultdict(lambda: defaultdict(list))
    for tp in partitions:
        node = client.cluster.leader_for_partition(tp)
        if node is None or node < 0:
            return None
        by_node[node][tp.topic].append((tp.partition, -1))
    ends: dict[Any, int] = {}
    for node, topics in by_node.items():
        response = await client.send(node, OffsetRequest(-1, 0, list(topics.items())))
        for topic, parts in response.topics:
            for part, error_code, *info in parts:
                if error_code:
                    return None
                ends[TopicPartition(topic, part)] = info[-1]
    return ends


def apply() -> None:
    global _applied
    if _applied:
        return

    async def _highwaters(self: Any, partitions: list[Any]) -> Mapping[Any, int]:
        consumer = self._ensure_consumer()
        offsets: Mapping[Any, int] = await consumer.end_offsets(partitions)
        # A transaction still open or completing (a killed worker's commit whose markers
        # are not written yet) holds the last stable offset back; recovery would stop
        # there and never read the records it commits. Wait until nothing is pending.
        deadline = time.monotonic() + SETTLE_SECONDS
        while time.monotonic() < deadline:
            written = await _log_ends(consumer, partitions)
            if written is None or all(offsets[tp] >= written.get(tp, offsets[tp]) for tp in partitions):
                break
            await asyncio.sleep(0.5)
            offsets = await consumer.end_offsets(partitions)
        else:
            log.warning("changelog transactions still open after %.0f s; recovering to what is stable", SETTLE_SECONDS)
        return offsets

    AIOKafkaConsumerThread._highwaters = _highwaters  # type: ignore[method-assign]
    _applied = True
