"""The worker command's own behaviour, with Kafka, the model and Faust replaced."""

from __future__ import annotations

import sys
from typing import Any

import pytest

from pipeline import cli


class Exec(Exception):
    """Stands for os.execv: the process image would be replaced here."""


def worker_run(monkeypatch: pytest.MonkeyPatch, run: Any, restarts: int = 0) -> tuple[list[str], list[float]]:
    import faust

    import pipeline.app
    import pipeline.classification
    import pipeline.kafka_admin

    async def nothing(*_a: Any, **_k: Any) -> None:
        return None

    class Model:
        version = "m"

        class encoder:  # the attribute path the command reads
            device, precision = "cpu", "fp32"

    class Worker:
        _signal_stop_time = None

        def __init__(self, *_a: Any, **_k: Any) -> None:
            pass

        def execute_from_commandline(self) -> None:
            run(self)

    monkeypatch.setattr(pipeline.kafka_admin, "wait_for_broker", nothing)
    monkeypatch.setattr(pipeline.kafka_admin, "ensure_topics", nothing)
    monkeypatch.setattr(pipeline.classification.ComplaintModel, "load", classmethod(lambda cls, *a: Model()))
    monkeypatch.setattr(pipeline.app, "build", lambda *a, **k: type("FP", (), {"app": None})())
    monkeypatch.setattr(faust, "Worker", Worker)
    execs: list[list[str]] = []
    sleeps: list[float] = []

    def execv(_exe: str, argv: list[str]) -> None:
        execs.append(argv)
        raise Exec

    monkeypatch.setattr(cli.os, "execv", execv)
    monkeypatch.setattr(cli.time, "sleep", sleeps.append)
    argv = ["worker", "--bootstrap-servers", "127.0.0.1:1", *([f"--restarts={restarts}"] if restarts else [])]
    monkeypatch.setattr(sys, "argv", ["flashpoint", *argv])
    monkeypatch.setenv("FLASHPOINT_METRICS_PORT", "0")
    with pytest.raises(Exec):
        cli.main(argv)
    return execs[0], sleeps


def test_a_crashed_worker_starts_over_with_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    def crash(_w: Any) -> None:
        raise SystemExit(1)  # what Faust does after an agent or the producer crashed

    argv, sleeps = worker_run(monkeypatch, crash)
    assert argv[-1] == "--restarts=1" and argv[3] == "worker" and sleeps == [2.0]
    argv, sleeps = worker_run(monkeypatch, crash, restarts=6)
    assert argv[-1] == "--restarts=7" and argv.count("--restarts=7") == 1 and sleeps == [30.0]


def test_a_requested_stop_is_not_a_crash(monkeypatch: pytest.MonkeyPatch) -> None:
    def stopped(w: Any) -> None:
        w._signal_stop_time = 1.0  # SIGTERM received
        raise SystemExit(0)

    with pytest.raises(SystemExit):
        worker_run(monkeypatch, stopped)
