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
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

_applied = False


def apply() -> None:
    global _applied
    if _applied:
        return

    async def _highwaters(self: Any, partitions: list[Any]) -> Mapping[Any, int]:
        consumer = self._ensure_consumer()
        offsets: Mapping[Any, int] = await consumer.end_offsets(partitions)
        return offsets

    AIOKafkaConsumerThread._highwaters = _highwaters  # type: ignore[method-assign]
    _applied = True
