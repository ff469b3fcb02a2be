"""``flashpoint demo``: broker (embedded unless given), worker, replay, readable output.

The worker runs as a child process exactly as in production (``flashpoint worker``);
this process replays the scripted stream into the mentions topic and prints what comes
out of the escalation and dead-letter topics, once the worker is ready (its model
loaded, its partitions assigned). Ctrl-C, or ``--duration`` seconds after the replay
starts, stops all of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import orjson
from aiokafka import AIOKafkaProducer

from pipeline.demo.embedded import EmbeddedBroker, _die_with_parent
from pipeline.demo.stream import script
from pipeline.kafka_admin import ensure_topics, security, wait_for_broker
from pipeline.ops import follow, format_dead_letter, format_escalation
from pipeline.settings import Settings
from pipeline.telemetry.health import wait_ready


def demo_settings(base: Settings, bootstrap: str, embedded: bool) -> Settings:
    run = uuid.uuid4().hex[:8]
    prefix = f"flashpoint-demo-{run}"
    return base.replace(
        bootstrap_servers=bootstrap,
        app_id=prefix,
        topic_mentions=f"{prefix}.mentions",
        topic_dead_letter=f"{prefix}.mentions.dead-letter",
        topic_classified=f"{prefix}.mentions.classified",
        topic_escalations=f"{prefix}.escalations",
        topic_desk=f"{prefix}.escalations.desk",
        topic_feedback=f"{prefix}.escalations.feedback",
        topic_corrections=f"{prefix}.mentions.corrections",
        partitions=2,
        # tansu has no transactions and no idempotent producers.
        processing_guarantee="at_least_once" if embedded else base.processing_guarantee,
        rebalance_timeout_seconds=3.0 if embedded else base.rebalance_timeout_seconds,
        data_dir=Path(tempfile.mkdtemp(prefix="flashpoint-demo-")),
        metrics_port=base.metrics_port,
    )


def settings_env(s: Settings) -> dict[str, str]:
    return {**os.environ, **s.environ()}


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def run_demo(base: Settings, bootstrap: str | None, duration: float | None, speed: float) -> int:
    # Ctrl-C and SIGTERM both stop everything in order (worker, then broker), even when
    # started from a shell that ignores SIGINT for background jobs.
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    broker = None
    worker: subprocess.Popen[bytes] | None = None
    try:
        if bootstrap is None:
            broker = EmbeddedBroker()
            broker.start()
            bootstrap = broker.bootstrap_servers
            print(f"embedded broker (tansu) on {bootstrap}", flush=True)
        s = demo_settings(base, bootstrap, embedded=broker is not None)
        asyncio.run(_prepare(s))
        log_path = s.data_dir / "worker.log"
        log = open(log_path, "wb")  # noqa: SIM115 - the worker child writes to it until stopped
        worker = subprocess.Popen(
            [sys.executable, "-m", "pipeline", "worker"],
            env=settings_env(s),
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
            # Its own session: Ctrl-C reaches the demo, which then stops the worker cleanly.
            start_new_session=True,
        )
        print(f"worker pid {worker.pid} (log: {log_path}); waiting for it to be ready", flush=True)
        # Replaying earlier would spend the scripted hour while the model loads: on a
        # busy machine the stream was over before the worker read it.
        if not wait_ready(worker, s.metrics_port):
            print(f"worker exited with code {worker.returncode}; see {log_path}", file=sys.stderr, flush=True)
            return 1
        print(f"replaying the demo stream at {speed:g}x\n", flush=True)
        counts = asyncio.run(_replay_and_print(s, speed, duration, worker))
        print(
            f"\nescalations: {counts['escalations']}, dead letters: {counts['dead']}, mentions sent: {counts['sent']}",
            flush=True,
        )
        return 0
    except KeyboardInterrupt:
        print("\nstopping", flush=True)
        return 130
    finally:
        if worker is not None:
            _stop(worker)
        if broker is not None:
            broker.stop()


async def _prepare(s: Settings) -> None:
    await wait_for_broker(s.bootstrap_servers, s.broker_wait_seconds, **security(s))
    await ensure_topics(s)


async def _replay_and_print(
    s: Settings, speed: float, duration: float | None, worker: subprocess.Popen[bytes]
) -> Counter[str]:
    counts: Counter[str] = Counter()
    stop = asyncio.Event()

    def show(topic: str, value: bytes | None, headers: list[tuple[str, bytes]]) -> None:
        if topic == s.topic_escalations:
            counts["escalations"] += 1
            print(format_escalation(orjson.loads(value or b"{}")), "\n", flush=True)
        else:
            counts["dead"] += 1
            print(format_dead_letter(value, headers), "\n", flush=True)

    async def replay() -> None:
        # Idempotence off: the embedded broker rejects idempotent producers.
        producer = AIOKafkaProducer(
            bootstrap_servers=s.bootstrap_servers, acks="all", enable_idempotence=False, **security(s)
        )
        await producer.start()
        try:
            items = script(datetime.now(UTC))
            t0 = time.monotonic()
            for item in items:
                delay = item.at / speed - (time.monotonic() - t0)
                if delay > 0:
                    await asyncio.sleep(delay)
                await producer.send(s.topic_mentions, item.value)
                counts["sent"] += 1
            await producer.flush()
        finally:
            await producer.stop()

    async def watchdog() -> None:
        while worker.poll() is None:
            await asyncio.sleep(0.5)
        print(
            f"worker exited with code {worker.returncode}; see {s.data_dir / 'worker.log'}", file=sys.stderr, flush=True
        )
        stop.set()

    topics = [s.topic_escalations, s.topic_dead_letter]
    follower = asyncio.create_task(follow(s.bootstrap_servers, topics, show, stop, **security(s)))
    tasks = [asyncio.create_task(replay()), asyncio.create_task(watchdog())]
    try:
        if duration is None:
            await tasks[0]
            print("(replay finished; the worker keeps running: Ctrl-C to stop)", flush=True)
            await stop.wait()
        else:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=duration)
    finally:
        stop.set()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.gather(follower, return_exceptions=True)
    return counts


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
