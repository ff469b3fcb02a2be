"""The ops tools against a real Apache Kafka: `flashpoint tail` (and `relay`)."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from pipeline.kafka_admin import ensure_topics
from pipeline.settings import Settings
from tests.broker.conftest import collect
from tests.receiver import receiver
from tests.test_ops import sample

pytestmark = pytest.mark.broker


def cli_env(s: Settings) -> dict[str, str]:
    return {**os.environ, **s.environ()}


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
    # Date, time, severity, ...: the date is part of every line.
    assert [line.split()[2] for line in lines] == ["CRITICAL", "WARNING"]
    assert all(re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d ", line) for line in lines), lines
    assert all(" Acme: @user" in line and "| " in line and " key=Acme/twitter:" in line for line in lines)
    assert "skipped an unreadable event" in done.stderr


def wait_for(check: Callable[[], bool], timeout: float, what: str, proc: subprocess.Popen[str] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"relay exited {proc.returncode}: {proc.stderr.read() if proc.stderr else ''}")
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_relay_commits_only_what_the_receiver_accepted(settings: Settings, tmp_path: Path) -> None:
    from tests.test_relay import ROUTING_KEY, check_pagerduty

    s = settings
    asyncio.run(ensure_topics(s, [s.topic_escalations]))
    refused = sample("error", brand="Bad")
    events = [sample("info"), sample("warning"), refused, sample("critical")]
    asyncio.run(produce_keyed(s.bootstrap_servers, s.topic_escalations, [orjson.dumps(e) for e in events]))
    env = {**cli_env(s), "FLASHPOINT_PAGERDUTY_ROUTING_KEY": ROUTING_KEY}
    down = True

    with receiver() as rec:

        def answer(path: str, body: Any) -> int:
            check_pagerduty(body)
            p = body["payload"]
            if p["component"] == "Bad":
                return 400
            return 503 if down and p["severity"] == "warning" else 202

        rec.answer = answer
        args = [sys.executable, "-m", "pipeline", "relay", "--to", "pagerduty", "--url", rec.url + "/v2/enqueue"]

        def tried(severity: str, status: int) -> int:
            return sum(
                1 for r in rec.requests if r["body"]["payload"]["severity"] == severity and r["status"] == status
            )

        log1 = (tmp_path / "relay1.log").open("w")
        first = subprocess.Popen(args, env=env, stdout=log1, stderr=subprocess.STDOUT, text=True)
        try:
            wait_for(lambda: tried("info", 202) == 1 and tried("warning", 503) >= 2, 90, "info, then warning refused")
        finally:
            first.kill()  # SIGKILL while retrying "warning": its offset is not committed
            first.wait()
        down = False
        log2 = (tmp_path / "relay2.log").open("w")
        second = subprocess.Popen(args, env=env, stdout=log2, stderr=subprocess.STDOUT, text=True)
        try:
            wait_for(lambda: tried("critical", 202) == 1, 90, "critical accepted")
        finally:
            second.terminate()
            assert second.wait(timeout=30) == 0, "SIGTERM stops the relay cleanly"
        accepted = [r["body"]["payload"]["severity"] for r in rec.requests if r["status"] == 202]
        assert accepted == ["info", "warning", "critical"], rec.requests
        assert sum(1 for r in rec.requests if r["status"] == 400) == 1

    dead = asyncio.run(collect(s.bootstrap_servers, s.topic_relay_dead_letter, until=1, timeout=30))
    assert len(dead) == 1 and orjson.loads(dead[0][1] or b"") == refused
    headers = dict(dead[0][2])
    assert headers["flashpoint.relay.reason"] == b"pagerduty refused it: HTTP 400"
    assert b"invalid event" in headers["flashpoint.relay.answer"]
    logs = (tmp_path / "relay1.log").read_text() + (tmp_path / "relay2.log").read_text()
    assert "retrying in" in logs and ROUTING_KEY not in logs, "retries are logged, the key never"


def test_feedback_refuses_an_unknown_key_and_sends_for_a_known_one(settings: Settings) -> None:
    s = settings
    asyncio.run(ensure_topics(s, [s.topic_escalations, s.topic_feedback]))
    ev = sample("error")
    key = ev["data"]["dedup_key"]
    # As the worker publishes them: keyed by dedup key.
    from aiokafka import AIOKafkaProducer

    async def publish() -> None:
        p = AIOKafkaProducer(bootstrap_servers=s.bootstrap_servers, acks="all")
        await p.start()
        try:
            await p.send_and_wait(s.topic_escalations, orjson.dumps(ev), key=key.encode())
        finally:
            await p.stop()

    asyncio.run(publish())

    def feedback(k: str) -> subprocess.CompletedProcess[str]:
        args = ["feedback", "ack", k, "--by", "care-team"]
        cmd = [sys.executable, "-m", "pipeline", *args]
        return subprocess.run(cmd, env=cli_env(s), capture_output=True, text=True, timeout=60)

    unknown = feedback("Acme/twitter:nope")
    assert unknown.returncode == 2 and unknown.stdout == ""
    assert unknown.stderr.strip().count("\n") == 0, unknown.stderr
    assert "no escalation 'Acme/twitter:nope'" in unknown.stderr and "nothing sent" in unknown.stderr
    known = feedback(key)
    assert known.returncode == 0, known.stderr
    assert f"acknowledge {key} sent" in known.stdout
    sent = asyncio.run(collect(s.bootstrap_servers, s.topic_feedback, until=1, timeout=30))
    assert [orjson.loads(v or b"")["dedup_key"] for _k, v, _h in sent] == [key]
