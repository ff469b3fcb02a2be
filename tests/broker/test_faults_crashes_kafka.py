"""The fault suite, crashes: the worker SIGKILLed at random moments mid-stream and
restarted (tests/broker/faults.py says how the scenarios work)."""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

import pytest

from pipeline.classification import ComplaintModel
from pipeline.loadgen import Replayer, Workload, workload
from tests.broker.conftest import make_worker, run_settings
from tests.broker.faults import (
    KILLS,
    MENTIONS,
    SEED,
    WORKER_MODULE,
    behind,
    fault_settings,
    restart,
    settle,
)
from tests.broker.replay import expected, levels

pytestmark = pytest.mark.broker


@pytest.fixture(scope="module")
def load() -> Workload:
    return workload(MENTIONS)


@pytest.fixture(scope="module")
def crashes(
    kafka: str, model: ComplaintModel, load: Workload, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """Issue 7.1, run once for the two tests below: SIGKILL at random moments, restart."""
    tmp_path = tmp_path_factory.mktemp("crashes")
    settings = run_settings(kafka, tmp_path)
    s = fault_settings(settings, tmp_path)
    exp = expected(load, s, model)
    assert all(levels(exp)[level] > 0 for level in ("info", "warning", "error", "critical")), levels(exp)
    worker = make_worker(s, tmp_path / "worker.log", WORKER_MODULE)
    rng = random.Random(SEED)
    try:
        started = time.monotonic()
        worker.start()
        worker.wait_ready()
        startup = time.monotonic() - started
        # The replay spans the kills (a restart takes 30-50 s on an Intel with AMX, 100 s
        # on an AVX2-only AMD: imports, the group waiting for the dead member, changelog
        # recovery): each lands mid-stream, at a random point of the input, and after the
        # restarted worker has done some work. Half the input must outlast a restart, which
        # takes about what the first start took and the group's wait on top.
        restart_estimate = 1.5 * startup + 30
        rate = min(MENTIONS / (KILLS * 60), 0.5 * MENTIONS / restart_estimate)
        replayer = Replayer(s.bootstrap_servers, s.topic_mentions, load.messages, rate=rate)
        n = len(load)
        # One kill in the first half of each of KILLS equal stretches of the input.
        stretch = 0.8 * n / KILLS
        points = [rng.randrange(int(n * 0.05 + k * stretch), int(n * 0.05 + (k + 0.5) * stretch)) for k in range(KILLS)]
        began = time.monotonic()
        replayer.start()
        kills = []
        for point in points:
            time.sleep(rng.uniform(1.0, 4.0))
            while replayer.sent < point and replayer.is_alive():
                time.sleep(0.05)
            sent, backlog = replayer.sent, asyncio.run(behind(s))
            assert sent < len(load), f"each kill lands mid-stream, while mentions arrive: {kills}"
            at = time.monotonic() - began
            ready_in = restart(worker, worker.kill)
            kills.append({"at_s": round(at, 1), "sent": sent, "backlog": backlog, "ready_after_s": round(ready_in, 1)})
        return settle(
            "crashes",
            s,
            exp,
            load,
            replayer,
            [worker],
            began,
            {"kills": kills, "startup_s": round(startup, 1), "replay_rate": round(rate, 1)},
        )
    finally:
        worker.stop()


def test_sigkill_mid_stream_loses_and_doubles_nothing(crashes: dict[str, Any]) -> None:
    """Every expected escalation published exactly once, every valid mention through
    (asserted while the fixture accounts), after KILLS SIGKILLs."""
    assert crashes["lost"] == crashes["duplicated"] == crashes["unexpected"] == 0
    assert len(crashes["kills"]) == KILLS


def test_sigkill_mid_stream_leaves_the_same_figures(crashes: dict[str, Any]) -> None:
    """Reach, forecast, reasons and customer history as without crashes: the tables
    come back whole (pipeline.faust_fixes)."""
    assert crashes["different_figures"] == 0, crashes["different_examples"]
