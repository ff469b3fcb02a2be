from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
from faust.types import TP

from pipeline.tables import Changes, RunTable

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

    async def send(changelog: str, source: TP, key: bytes, value: bytes | None) -> None:
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
    assert sent(changes) == [
        ("posts-changelog", P0, "a", [0, "a"]),
        ("participants-changelog", P1, "b|x", True),
        ("posts-changelog", P1, "b", [0, "b"]),
    ]


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
