"""A real Apache Kafka (deploy/kafka.sh) and a real worker process for broker tests.

Set FLASHPOINT_TEST_BOOTSTRAP_SERVERS to use a running cluster; otherwise a single
KRaft node is started on 127.0.0.1:39092 for the session and stopped after it (39102
for the second pytest-xdist process, and so on).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from pipeline.classification import ComplaintModel
from pipeline.kafka_admin import ensure_topics
from pipeline.settings import Settings
from tests.conftest import REPO, need

pytestmark = pytest.mark.broker
KAFKA_PORT = 39092


@pytest.fixture(scope="session")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    given = os.environ.get("FLASHPOINT_TEST_BOOTSTRAP_SERVERS")
    if given:
        yield given
        return
    need(
        shutil.which("java") is not None and shutil.which("mvn") is not None,
        "java and mvn are needed to run Kafka from Maven Central jars",
    )
    # Each pytest-xdist process (deploy/test.sh runs two) starts a broker of its own.
    port = KAFKA_PORT + 10 * int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw"))
    with kafka_sh(tmp_path_factory.mktemp("kafka"), KAFKA_PORT=str(port)):
        yield f"127.0.0.1:{port}"


@contextlib.contextmanager
def kafka_sh(state_dir: Path, nodes: str = "1", **env: str) -> Iterator[None]:
    """``nodes`` brokers from deploy/kafka.sh with these KAFKA_* settings, stopped afterwards."""
    full = {**os.environ, **env, "KAFKA_STATE_DIR": str(state_dir)}
    script = str(REPO / "deploy" / "kafka.sh")
    started = subprocess.run([script, "start", nodes], env=full, capture_output=True, text=True, timeout=600)
    assert started.returncode == 0, f"kafka.sh start failed:\n{started.stdout}\n{started.stderr}"
    try:
        yield
    finally:
        subprocess.run([script, "stop"], env=full, capture_output=True, timeout=120)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Worker:
    settings: Settings
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    env: dict[str, str] = field(default_factory=dict)
    # tests.broker.amplify for the fault suite: the same worker, race windows widened.
    module: str = "pipeline"
    # Another installation's command line (tests/broker/test_wheel_kafka.py), run in cwd.
    command: list[str] | None = None
    cwd: Path | None = None

    def start(self) -> None:
        # Integrators create the input topic before producing (flashpoint topics);
        # without it the first producer would race the worker to auto-create it.
        asyncio.run(ensure_topics(self.settings))
        self.proc = subprocess.Popen(
            self.command or [sys.executable, "-m", self.module, "worker"],
            env=self.env,
            cwd=self.cwd,
            stdout=open(self.log, "ab"),  # noqa: SIM115 - the child owns it
            stderr=subprocess.STDOUT,
        )

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def metrics(self) -> str:
        url = f"http://127.0.0.1:{self.settings.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as r:
            return str(r.read().decode())

    def wait_ready(self, timeout: float = 180) -> None:
        """Until /ready answers 200: model loaded, partitions assigned, broker reachable."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"worker exited {self.proc.returncode}:\n{self.tail()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.settings.metrics_port}/ready", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.3)
        raise AssertionError(f"worker not ready after {timeout}s:\n{self.tail()}")

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-6000:]

    def started_over(self) -> list[str]:
        """The log lines where the worker crashed and started over by itself
        (``flashpoint worker`` re-executes itself, keeping its pid), or where a send
        found its transaction gone: what a stalled handover looks like."""
        signs = ("starting over in", "Can't send messages while not in transaction")
        return [line for line in self.log.read_text(errors="replace").splitlines() if any(x in line for x in signs)]

    def evidence(self, *names: str, around: int = 30) -> str:
        """For a failed scenario: the log lines naming any of ``names`` (cascades, say),
        and each error with the lines around it (what failed an agent, why the worker
        started over, the traceback), in order, ``around`` before each error."""
        lines = self.log.read_text(errors="replace").splitlines()
        keep: set[int] = set()
        for i, line in enumerate(lines):
            if any(n in line for n in names):
                keep.add(i)
            if " ERROR " in line or "starting over in" in line or line.startswith("Traceback"):
                keep.update(range(max(0, i - around), min(len(lines), i + 40)))  # and its traceback
        picked = [f"{i}: {lines[i][:400]}" for i in sorted(keep)]
        return f"--- {self.log.name} ({len(lines)} lines) ---\n" + "\n".join(picked[-400:])


def make_worker(s: Settings, log: Path, module: str = "pipeline") -> Worker:
    return Worker(settings=s, log=log, env={**os.environ, **s.environ()}, module=module)


@pytest.fixture
def settings(kafka: str, tmp_path: Path) -> Settings:
    return run_settings(kafka, tmp_path)


def run_settings(kafka: str, tmp_path: Path) -> Settings:
    """Settings for one test: topics and group of its own, on ``kafka``."""
    run = f"t{uuid.uuid4().hex[:8]}"
    return Settings(
        bootstrap_servers=kafka,
        partitions=4,
        metrics_port=free_port(),
        data_dir=tmp_path / "data",
        device="cpu",
        rebalance_timeout_seconds=10.0,
        processing_guarantee=os.environ.get("FLASHPOINT_TEST_GUARANTEE", "exactly_once"),
        # The fetch bound (docs/decisions/2026-12-07-fix-9-and-the-fetch-bound.md): 1.5 and 1 give Faust's own fetches.
        fetch_max_wait_seconds=float(
            os.environ.get("FLASHPOINT_TEST_FETCH_MAX_WAIT_SECONDS", Settings.fetch_max_wait_seconds)
        ),
        fetch_min_bytes=int(os.environ.get("FLASHPOINT_TEST_FETCH_MIN_BYTES", Settings.fetch_min_bytes)),
    ).isolated(run, app_id=f"flashpoint-{run}")


@pytest.fixture
def worker(settings: Settings, tmp_path: Path) -> Iterator[Worker]:
    w = make_worker(settings, tmp_path / "worker.log")
    try:
        yield w
    finally:
        w.stop()


async def produce(bootstrap: str, topic: str, values: list[bytes], key: bytes | None = None, **client: Any) -> None:
    """Send ``values`` in order, all under ``key`` (the integrator's order kept), or each
    under a random key (spread over the partitions). ``client``: more producer options."""
    p = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", **client)
    await p.start()
    try:
        for v in values:
            await p.send(topic, v, key=key or str(uuid.uuid4()).encode())
        await p.flush()
    finally:
        await p.stop()


async def collect(
    bootstrap: str,
    topic: str,
    until: int,
    timeout: float,
    worker: Worker | None = None,
    settle: float = 0.0,
    client: dict[str, Any] | None = None,
) -> list[tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]]:
    """Committed messages of ``topic`` from the start, until ``until`` arrived (then
    ``settle`` seconds more, to catch extras) or ``timeout``."""
    c = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
        **(client or {}),
    )
    await c.start()
    got: list[tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]] = []
    deadline = time.monotonic() + timeout
    settle_until: float | None = None
    try:
        while time.monotonic() < deadline:
            if worker is not None and worker.proc is not None and worker.proc.poll() is not None:
                raise AssertionError(f"worker exited {worker.proc.returncode}:\n{worker.tail()}")
            for msgs in (await c.getmany(timeout_ms=500)).values():
                got += [(m.key, m.value, list(m.headers or ())) for m in msgs]
            if len(got) >= until and settle_until is None:
                settle_until = time.monotonic() + settle
            if settle_until is not None and time.monotonic() >= settle_until:
                break
    finally:
        await c.stop()
    return got


def run(coro: object) -> object:
    return asyncio.run(coro)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def model() -> ComplaintModel:
    """The complaint model, for the faultless runs the fault scenarios are held against."""
    s = Settings.from_env()
    return ComplaintModel.load(s.model_dir, "cpu", s.precision)
