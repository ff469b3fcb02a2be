"""10,000 generated malformed and strange messages through the real worker on a real
Kafka, with real complaints among them: every message is accounted for, every bad one
dead-lettered with its reason, and the complaints still escalate (a poison message
never blocks its partition)."""

from __future__ import annotations

import asyncio
import re
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from pipeline.flow import Incoming, ingest
from pipeline.records import DeadLetter
from pipeline.schemas import REASON_CODES
from pipeline.settings import Settings
from tests.broker.conftest import collect, make_worker, produce
from tests.broker.test_pipeline_kafka import escalations_of, root
from tests.strategies import malformed_or_strange
from tests.test_flow import FakeModel

pytestmark = pytest.mark.broker

GENERATED = 10_000
# Kafka's default limit (message.max.bytes, and aiokafka's max_request_size): bigger
# messages are refused by the producer, before Flashpoint could see them.
KAFKA_MAX = 1_000_000


def generated() -> list[bytes]:
    out: list[bytes] = []

    @settings(max_examples=GENERATED, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(malformed_or_strange)
    def keep(raw: bytes) -> None:
        if len(raw) < KAFKA_MAX:
            out.append(raw)

    keep()
    return out


def test_generated_bad_input_is_dead_lettered_and_the_worker_keeps_up(settings: Settings, tmp_path: Path) -> None:
    from pipeline.brands import Watchlist

    bad = generated()
    assert len(bad) >= GENERATED * 0.98, len(bad)
    complaints = [root(f"ok{i}") for i in range(10)]
    # Complaints spread through the stream, each behind hundreds of bad messages.
    stream = [*bad]
    for i, c in enumerate(complaints):
        stream.insert((i + 1) * len(bad) // (len(complaints) + 1), c)
    # What the worker must do with each, by the same pure functions it runs.
    watch = Watchlist.load(settings.watchlist)
    now = datetime.now(UTC)
    expected = ingest([Incoming(v, None, "m", 0, i) for i, v in enumerate(stream)], watch, FakeModel(), now)
    # Original posts naming no brand go on too (a brand's account may answer them), but
    # are counted as unmatched, not matched.
    n_dead, n_unmatched = len(expected.dead), expected.unmatched
    n_matched = len(expected.forward) - n_unmatched
    # And garbage on the internal topics, which only Flashpoint writes: a bug there must
    # not stop a partition either.
    internal = {settings.topic_classified: [b"{oops", b"[]", b'{"mention": 1}'], settings.topic_desk: [b"\xff", b"{}"]}
    # And a record of the cascade stage whose first mention is garbage: only that one is
    # dead-lettered (as itself); the complaint after it escalates.
    good = ingest([Incoming(root("okb"), None, "m", 0, 0)], watch, FakeModel(), now).forward[0]
    mixed = b'{"schema_version":1,"mentions":[{"mention":1},' + good.to_json() + b"]}"

    worker = make_worker(settings, tmp_path / "worker.log")
    try:
        worker.start()
        worker.wait_ready()

        async def go() -> tuple[list, list]:  # type: ignore[type-arg]
            for topic, values in internal.items():
                await produce(settings.bootstrap_servers, topic, values, key=b"garbage")
            # On the partition of its cascade, as the ingest step sends it.
            await produce(settings.bootstrap_servers, settings.topic_classified, [mixed], key=b"twitter:okb")
            # Random keys: bad messages land on every partition.
            await produce(settings.bootstrap_servers, settings.topic_mentions, stream, linger_ms=5)
            dead = await collect(settings.bootstrap_servers, settings.topic_dead_letter, n_dead + 6, 300, worker, 3)
            # Valid-but-strange mentions that name Acme escalate too: wait for ours.
            ours = {f"ok{i}" for i in range(len(complaints))} | {"okb"}
            deadline = time.monotonic() + 120
            while True:
                esc = await collect(settings.bootstrap_servers, settings.topic_escalations, 10**6, 3, worker)
                ids = {e["data"]["root_post"]["id"] for e in escalations_of(esc) if e["data"]["kind"] == "cascade"}
                if ours <= ids or time.monotonic() > deadline:
                    return dead, esc

        started = time.monotonic()
        dead, esc = asyncio.run(go())
        took = time.monotonic() - started
        assert len(dead) == n_dead + 6, (len(dead), n_dead, worker.tail())
        letters = [(value, DeadLetter.from_headers(headers)) for _, value, headers in dead]
        inside = [(v, x) for v, x in letters if x.source_topic != settings.topic_mentions]
        expected_inside = [v for vs in internal.values() for v in vs] + [b'{"mention":1}']
        assert sorted(v or b"" for v, _ in inside) == sorted(expected_inside)
        assert all(x.code == "processing_error" for _, x in inside)
        for value, letter in letters:
            if letter.source_topic == settings.topic_mentions:
                assert letter.reason and letter.code in REASON_CODES and letter.source_offset >= 0
                assert value in stream or value == b"", "the original bytes, unchanged"
        roots = {e["data"]["root_post"]["id"] for e in escalations_of(esc) if e["data"]["kind"] == "cascade"}
        assert {f"ok{i}" for i in range(10)} | {"okb"} <= roots, (sorted(roots), len(esc), took)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            m = worker.metrics()
            got = {
                o: float(x.group(1)) if (x := re.search(rf'flashpoint_mentions_total{{outcome="{o}"}} (\S+)', m)) else 0
                for o in ("dead_letter", "matched", "unmatched")
            }
            lag = [float(v) for v in re.findall(r"^flashpoint_consumer_lag_messages\{[^}]*\} (\S+)$", m, re.M)]
            if got == {"dead_letter": n_dead, "matched": n_matched, "unmatched": n_unmatched} and lag and not any(lag):
                break
            time.sleep(1)
        else:
            raise AssertionError(f"counts {got} != {(n_dead, n_matched, n_unmatched)} or lag {lag}")
        assert worker.proc is not None and worker.proc.poll() is None, "the worker is still running"
        log = worker.log.read_text(errors="replace")
        assert "Crashed" not in log, "no agent crashed (Faust would restart it, holding its partition back)"
        print(f"{len(stream)} messages ({n_dead} dead letters) through the worker in {took:.1f}s")
    finally:
        worker.stop()
