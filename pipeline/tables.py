"""Faust tables whose changelog records are sent once per run of events.

A write to a Faust table sends its changelog record there and then, through Faust's
producer buffer: about 80 microseconds a record on this project's machines, and the
cascade stage writes three tables for every repost, a hot cascade's state again for
every one of its reposts. :class:`RunTable` wraps a table: reads and writes go to the
table's store at once (so a run reads its own writes), and :meth:`Changes.send` sends
what changed at the end of the run, the last value of each key only, each record to
the changelog partition (and so the Kafka transaction) of the event that wrote it.

The records are those Faust writes (JSON key and value, ``None`` to delete), so
Faust's changelog recovery and standby replicas read them unchanged.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from typing import Any

import orjson
from faust.streams import current_event
from faust.types import TP

# (changelog topic, the writing event's topic and partition, key) -> value (None: deleted)
_Key = tuple[str, TP, str]
Send = Callable[[str, TP, bytes, bytes | None], Awaitable[None]]


def _current_source() -> TP | None:
    event = current_event()
    return event.message.tp if event is not None else None


class Changes:
    """Table writes not yet sent, shared by the tables of one agent. ``source``: the
    topic and partition of the event being processed (Faust's current event)."""

    def __init__(self, source: Callable[[], TP | None] = _current_source) -> None:
        self._pending: dict[_Key, Any] = {}
        self._source = source

    def __len__(self) -> int:
        return len(self._pending)

    def record(self, changelog: str, key: str, value: Any) -> None:
        source = self._source()
        if source is None:
            # The partition to write to is the event's: there is none outside a stream.
            raise RuntimeError(f"{changelog}: table written outside stream processing")
        self._pending[(changelog, source, key)] = value

    async def send(self, send: Send) -> int:
        """Hand every pending record to ``send(changelog, source_tp, key, value)``; the
        number sent."""
        pending, self._pending = self._pending, {}
        for (changelog, tp, key), value in pending.items():
            await send(changelog, tp, orjson.dumps(key), None if value is None else orjson.dumps(value))
        return len(pending)


class RunTable(MutableMapping[str, Any]):
    """A Faust table read and written through its store; changes go to ``changes``."""

    def __init__(self, table: Any, changes: Changes) -> None:
        self._table = table
        self._changes = changes
        self._changelog: str = table.changelog_topic.get_topic_name()

    @property
    def _data(self) -> Any:
        return self._table.data

    def get(self, key: str, default: Any = None) -> Any:
        return self._data.get(key, default)

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __setitem__(self, key: str, value: Any) -> None:
        self._data[key] = value
        self._changes.record(self._changelog, key, value)

    def __delitem__(self, key: str) -> None:
        del self._data[key]
        self._changes.record(self._changelog, key, None)

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)
