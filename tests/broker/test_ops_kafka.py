"""The ops tools against a real Apache Kafka: `flashpoint tail` (and `relay`)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import orjson
import pytest

from pipeline.kafka_admin import ensure_topics
from pipeline.settings import Settings
from tests.test_ops import sample

pytestmark = pytest.mark.broker


def cli_env(s: Settings) -> dict[str, str]:
    env = dict(os.environ)
    for var, _d, _doc in Settings.describe():
        env[var] = str(getattr(s, var.removeprefix("FLASHPOINT_").lower()))
    return env


async def produce_keyed(bootstrap: str, topic: str, values: list[bytes]) -> None:
    # One key, one partition: the order is kept.
    from aiokafka import AIOKafkaProducer

    p = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await p.start()
    try:
        for v in values:
            await p.send(topic, v, key=b"one")
        await p.flush()
    finally:
        await p.stop()


def test_tail_prints_one_line_per_matching_event(settings: Settings) -> None:
    s = settings
    asyncio.run(ensure_topics(s, [s.topic_escalations]))
    events = [
        sample("info"),
        sample("error", brand="Northwind Air"),
        b"{not an event",
        sample("critical"),
        sample("warning"),
    ]
    values = [e if isinstance(e, bytes) else orjson.dumps(e) for e in events]
    asyncio.run(produce_keyed(s.bootstrap_servers, s.topic_escalations, values))
    args = ["tail", "--from-beginning", "--brand", "ACME", "--min-severity", "warning", "--limit", "2"]
    done = subprocess.run(
        [sys.executable, "-m", "pipeline", *args, "--color", "never"],
        env=cli_env(s),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 2, done.stdout
    assert [line.split()[1] for line in lines] == ["CRITICAL", "WARNING"]
    assert all(" Acme  @user" in line and "| " in line for line in lines)
    assert "skipped an unreadable event" in done.stderr
