from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
from faust.types import TP

from pipeline.tables import Changes, Record, RunTable, send_batches

P0, P1 = TP("classified", 0), TP("classified", 1)


class Source:
    """The partition of the event being processed, as the stream would set it."""

    def __init__(self) -> None:
        self.tp: TP | None = P0

    def __call__(self) -> TP | None:
        return self.tp


def table(name: str) -> Any:
    return SimpleNamespace(data={}, changelog_topic=SimpleNamespace(get_topic_name=lambda: f"{name}-changelog"))


def sent(changes: Changes) -> list[tuple[str, TP, Any, Any]]:
    out: list[tuple[str, TP, Any, Any]] = []

    async def send(changelog: str, source: TP, records: list[Record]) -> None:
        assert records, "no call without records"
        for key, value in records:
            out.append((changelog, source, orjson.loads(key), None if value is None else orjson.loads(value)))

    asyncio.run(changes.send(send))
    return out


def test_a_run_reads_its_own_writes_and_sends_each_key_once_with_its_last_value() -> None:
    source = Source()
    changes = Changes(source)
    cascades = RunTable(table("cascades"), changes)
    cascades["c1"] = {"reposts": 1}
    cascades["c1"] = {"reposts": 2}
    assert cascades.get("c1") == {"reposts": 2} and "c1" in cascades and len(cascades) == 1
    assert sent(changes) == [("cascades-changelog", P0, "c1", {"reposts": 2})]
    assert sent(changes) == []  # sent once


def test_each_record_goes_to_the_partition_of_the_event_that_wrote_it() -> None:
    source = Source()
    changes = Changes(source)
    posts, participants = RunTable(table("posts"), changes), RunTable(table("participants"), changes)
    posts["a"] = [0, "a"]
    source.tp = P1
    participants["b|x"] = True
    posts["b"] = [0, "b"]
    posts["c"] = [1, "a"]
    assert sent(changes) == [
        ("posts-changelog", P0, "a", [0, "a"]),
        ("participants-changelog", P1, "b|x", True),
        ("posts-changelog", P1, "b", [0, "b"]),
        ("posts-changelog", P1, "c", [1, "a"]),
    ]


def test_records_are_handed_over_once_per_changelog_and_partition() -> None:
    source = Source()
    changes = Changes(source)
    posts, participants = RunTable(table("posts"), changes), RunTable(table("participants"), changes)
    for i in range(5):
        source.tp = (P0, P1)[i % 2]
        posts[f"p{i}"] = [0, "a"]
        participants[f"a|{i}"] = True
    calls: list[tuple[str, TP, int]] = []

    async def send(changelog: str, tp: TP, records: list[Record]) -> None:
        calls.append((changelog, tp, len(records)))

    assert asyncio.run(changes.send(send)) == 10
    assert calls == [
        ("posts-changelog", P0, 3),
        ("participants-changelog", P0, 3),
        ("posts-changelog", P1, 2),
        ("participants-changelog", P1, 2),
    ]


class BatchProducer:
    """aiokafka's batch interface, with batches of at most ``size`` records."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.sent: list[tuple[str, int, list[tuple[bytes, bytes | None]]]] = []

    def create_batch(self) -> Any:
        size = self.size

        class Batch:
            def __init__(self) -> None:
                self.records: list[tuple[bytes, bytes | None]] = []

            def append(self, *, timestamp: float | None, key: bytes, value: bytes | None) -> Any:
                if len(self.records) >= size:
                    return None
                self.records.append((key, value))
                return object()

            def record_count(self) -> int:
                return len(self.records)

        return Batch()

    async def send_batch(self, batch: Any, topic: str, *, partition: int) -> None:
        self.sent.append((topic, partition, batch.records))


def test_records_go_in_as_few_batches_as_fit_in_order() -> None:
    records: list[Record] = [(f"k{i}".encode(), None if i == 3 else b"v") for i in range(7)]
    producer = BatchProducer(size=3)
    assert asyncio.run(send_batches(producer, "posts-changelog", 2, records)) == 3
    assert [(topic, partition, len(rs)) for topic, partition, rs in producer.sent] == [
        ("posts-changelog", 2, 3),
        ("posts-changelog", 2, 3),
        ("posts-changelog", 2, 1),
    ]
    assert [r for _, _, rs in producer.sent for r in rs] == records
    assert asyncio.run(send_batches(producer, "posts-changelog", 2, [])) == 0


def test_a_delete_is_a_tombstone_and_leaves_the_store() -> None:
    changes = Changes(Source())
    posts = RunTable(table("posts"), changes)
    posts["a"] = [0, "a"]
    del posts["a"]
    assert posts.get("a") is None and list(posts) == []
    assert sent(changes) == [("posts-changelog", P0, "a", None)]


def test_a_write_outside_stream_processing_is_refused() -> None:
    source = Source()
    source.tp = None
    posts = RunTable(table("posts"), Changes(source))
    with pytest.raises(RuntimeError, match="outside stream processing"):
        posts["a"] = [0, "a"]
