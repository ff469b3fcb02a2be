"""``flashpoint replay`` on a real broker: a real worker process, topics of its own.

The replay gets its own app id and topic names (``replay-<run>.*``), so it never reads
or writes a deployment's topics, and a worker started from this process's own
settings. Mentions are produced keyed by conversation (each conversation's order is
kept, as an integrator keying by root would), the escalations read back
(read_committed) until the worker has committed every mention and nothing new came
for ``quiet_seconds``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from pipeline.kafka_admin import ensure_topics, security
from pipeline.settings import Settings
from pipeline.telemetry.health import wait_ready


def on_broker(
    lines: Sequence[bytes], s: Settings, quiet_seconds: float = 10.0, timeout: float = 600.0
) -> list[dict[str, Any]]:
    run = f"replay-{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory(prefix="flashpoint-replay-") as tmp:
        rs = s.isolated(run).replace(metrics_port=_free_port(), data_dir=Path(tmp) / "data")
        asyncio.run(ensure_topics(rs))
        log = Path(tmp) / "worker.log"
        env = {**os.environ, **rs.environ()}
        with open(log, "ab") as out:
            proc = subprocess.Popen([sys.executable, "-m", "pipeline", "worker"], env=env, stdout=out, stderr=out)
        try:
            _wait_ready(proc, rs.metrics_port, log, timeout)
            return asyncio.run(_replay(lines, rs, proc, log, quiet_seconds, timeout))
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


async def _replay(
    lines: Sequence[bytes], s: Settings, proc: subprocess.Popen[bytes], log: Path, quiet: float, timeout: float
) -> list[dict[str, Any]]:
    producer = AIOKafkaProducer(bootstrap_servers=s.bootstrap_servers, acks="all", **security(s))
    await producer.start()
    try:
        for raw in lines:
            await producer.send(s.topic_mentions, raw, key=_conversation(raw))
        await producer.flush()
    finally:
        await producer.stop()

    events = AIOKafkaConsumer(
        s.topic_escalations,
        bootstrap_servers=s.bootstrap_servers,
        group_id=None,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
        **security(s),
    )
    # The worker's own group, only to read how far it has committed.
    progress = AIOKafkaConsumer(bootstrap_servers=s.bootstrap_servers, group_id=s.app_id, **security(s))
    await events.start()
    await progress.start()
    got: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    last_new = time.monotonic()
    try:
        parts = [TopicPartition(s.topic_mentions, p) for p in range(s.partitions)]
        ends = await progress.end_offsets(parts)
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"the worker exited {proc.returncode}:\n{_tail(log)}")
            for msgs in (await events.getmany(timeout_ms=500)).values():
                got += [orjson.loads(m.value or b"{}") for m in msgs]
                last_new = time.monotonic()
            if time.monotonic() - last_new >= quiet and await _caught_up(progress, ends):
                return got
        raise TimeoutError(f"replay: not finished after {timeout:.0f}s ({len(got)} escalations so far)")
    finally:
        await events.stop()
        await progress.stop()


async def _caught_up(progress: AIOKafkaConsumer, ends: dict[TopicPartition, int]) -> bool:
    for tp, end in ends.items():
        committed = await progress.committed(tp)
        if end and (committed or 0) < end:
            return False
    return True


def _conversation(raw: bytes) -> bytes | None:
    with contextlib.suppress(ValueError, TypeError, AttributeError, KeyError):
        d = orjson.loads(raw)
        return str(d.get("root_id") or d.get("parent_id") or d["id"]).encode()
    return None  # malformed: the worker dead-letters it wherever it lands


def _wait_ready(proc: subprocess.Popen[bytes], port: int, log: Path, timeout: float) -> None:
    try:
        ready = wait_ready(proc, port, timeout)
    except TimeoutError as exc:
        raise TimeoutError(f"{exc}:\n{_tail(log)}") from None
    if not ready:
        raise RuntimeError(f"the worker exited {proc.returncode}:\n{_tail(log)}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-4000:]
