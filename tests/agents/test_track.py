"""pipeline.agents.track: what the track agent dead-letters, and what it lets fail.

An event this code cannot handle is dead-lettered and the partition moves on; a Kafka
failure is not the event's, so it is raised: the agent fails, the checkpoint drops the
run and the worker starts over (tests/test_checkpoint.py)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka.errors import IllegalOperation, KafkaConnectionError

from pipeline.agents.track import Stage
from pipeline.records import DeadLetter
from pipeline.settings import Settings


class Checkpoint:
    def __init__(self, fail: Exception | None = None) -> None:
        self.fail = fail
        self.sent: list[tuple[str, bytes | None, list[tuple[str, bytes]] | None]] = []

    async def send(self, source: Any, topic: str, key: bytes | None, value: bytes | None, headers: Any = None) -> None:
        if self.fail is not None:
            raise self.fail
        self.sent.append((topic, value, headers))


def stage(checkpoint: Checkpoint) -> Stage:
    # Only the dead-letter path runs: the tracker, desk, policy and forecaster are unused.
    none: Any = None
    return Stage(Settings(), checkpoint, none, none, none, none, "test")  # type: ignore[arg-type]


def classified_event(value: bytes) -> Any:
    s = Settings()
    tp = SimpleNamespace(topic=s.topic_classified, partition=2)
    message = SimpleNamespace(topic=s.topic_classified, partition=2, offset=7, tp=tp)
    return SimpleNamespace(message=message, key=b"k", value=value)


async def test_an_event_the_code_cannot_handle_is_dead_lettered_with_its_reason() -> None:
    checkpoint = Checkpoint()
    assert await stage(checkpoint).event(classified_event(b"not a ClassifiedBatch")) == 1
    [(topic, value, headers)] = checkpoint.sent
    assert topic == Settings().topic_dead_letter and value == b"not a ClassifiedBatch"
    letter = DeadLetter.from_headers(headers)
    assert letter.code == "processing_error" and (letter.source_partition, letter.source_offset) == (2, 7)


@pytest.mark.parametrize(
    "failure",
    [IllegalOperation("Can't send messages while not in transaction"), KafkaConnectionError("broker gone")],
    ids=["transaction-ended", "broker-gone"],
)
async def test_a_kafka_failure_is_raised_not_dead_lettered(failure: Exception) -> None:
    """Seen in the fault suite: with the broker restarting, a send failed and the event
    was dead-lettered as a Flashpoint bug, though nothing was wrong with it."""
    s = stage(Checkpoint())
    with pytest.raises(type(failure)):
        await s.dead_letter(classified_event(b"{}"), failure, b"k", b"{}")
    assert s.checkpoint.sent == []  # type: ignore[attr-defined]
