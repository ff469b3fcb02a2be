"""The fault suite, rebalances: two workers, one killed and back (tests/broker/faults.py
says how the scenarios work)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from pipeline.classification import ComplaintModel
from pipeline.loadgen import Replayer, workload
from pipeline.settings import Settings
from pipeline.telemetry.lag import LagProbe
from tests.broker.conftest import free_port, make_worker
from tests.broker.faults import (
    BROKER_MENTIONS,
    WORKER_MODULE,
    fault_settings,
    settle,
)
from tests.broker.replay import expected

pytestmark = pytest.mark.broker


async def committed(s: Settings) -> dict[int, int]:
    """The group's committed offset of each mentions partition (its start where nothing
    is committed yet), as the lag probe reads it."""
    probe = LagProbe(s.bootstrap_servers, s.app_id, timeout=10.0)
    await probe.start()
    try:
        lags = await probe.sample([(s.topic_mentions, p) for p in range(s.partitions)])
    finally:
        await probe.stop()
    return {lag.partition: lag.committed for lag in lags}


def test_two_workers_one_killed_and_back(settings: Settings, tmp_path: Path, model: ComplaintModel) -> None:
    """Issue 7.2: two workers share the partitions; one is SIGKILLed mid-stream (its
    partitions move to the other) and comes back (they move back): a worker joining
    while the other has a backlog. The partitions the survivor keeps across both
    rebalances must not stall: faust-streaming left their transactions open, table
    recovery waited 60 s for them, the broker aborted them and every later send failed
    ("Can't send messages while not in transaction"), and the worker started over."""
    from tests.broker.test_pipeline_kafka import assigned, wait_until_shared

    s = fault_settings(settings, tmp_path)
    load = workload(BROKER_MENTIONS, seed=17)
    exp = expected(load, s, model)
    workers = [
        make_worker(
            s.replace(metrics_port=free_port(), data_dir=tmp_path / f"data{i}"),
            tmp_path / f"worker{i}.log",
            WORKER_MODULE,
        )
        for i in range(2)
    ]
    try:
        # One after the other: the first owns every partition, then loses half to the
        # second (they stay its standbys) and gets them back when the second dies. A
        # joint start shares them from the first generation and skips that handover.
        for w in workers:
            w.start()
            w.wait_ready()
        wait_until_shared(workers, s)
        replayer = Replayer(s.bootstrap_servers, s.topic_mentions, load.messages, rate=len(load) / 90)
        began = time.monotonic()
        replayer.start()
        while replayer.sent < len(load) // 4 and replayer.is_alive():
            time.sleep(0.05)
        facts: dict[str, Any] = {"killed_at_s": round(time.monotonic() - began, 1), "sent_before_kill": replayer.sent}
        at_kill = asyncio.run(committed(s))
        workers[1].kill()
        t = time.monotonic()
        deadline = t + 120
        while assigned(workers[0], s.topic_classified) < s.partitions and time.monotonic() < deadline:
            time.sleep(0.2)
        assert assigned(workers[0], s.topic_classified) == s.partitions, workers[0].tail()
        facts["all_partitions_on_survivor_after_s"] = round(time.monotonic() - t, 1)
        # And it works them: a commit on every mentions partition, in transactions of
        # the producers it holds for the partitions it got back (fix 8's path).
        while time.monotonic() < deadline:
            now = asyncio.run(committed(s))
            if all(now[p] > at_kill[p] for p in range(s.partitions)):
                break
            time.sleep(0.5)
        assert all(now[p] > at_kill[p] for p in range(s.partitions)), (at_kill, now, workers[0].tail())
        facts["survivor_committed_on_every_partition_after_s"] = round(time.monotonic() - t, 1)
        while replayer.sent < len(load) // 2 and replayer.is_alive():
            time.sleep(0.05)
        facts["back_at_s"] = round(time.monotonic() - began, 1)
        t = time.monotonic()
        workers[1].start()
        workers[1].wait_ready()
        wait_until_shared(workers, s)
        facts["shared_again_after_s"] = round(time.monotonic() - t, 1)
        settle("rebalance", s, exp, load, replayer, workers, began, facts)
        assert workers[0].started_over() == [], workers[0].evidence()
        assert workers[1].started_over() == [], workers[1].evidence()
    finally:
        for w in workers:
            w.stop()
