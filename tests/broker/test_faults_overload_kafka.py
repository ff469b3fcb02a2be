"""The fault suite, overload: five times the worker's capacity (tests/broker/faults.py
says how the scenarios work)."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from pathlib import Path

import pytest

from pipeline.classification import ComplaintModel
from pipeline.loadgen import Replayer, Workload, workload
from pipeline.settings import Settings
from pipeline.telemetry import procfs
from tests.broker.conftest import Worker, make_worker
from tests.broker.faults import (
    REPORTS,
    account,
    behind,
    drain,
    fault_settings,
)
from tests.broker.replay import expected, write_report

pytestmark = pytest.mark.broker

OVERLOAD_SECONDS = float(os.environ.get("FLASHPOINT_OVERLOAD_SECONDS", "20"))


class RssSampler(threading.Thread):
    """The worker's resident memory, sampled twice a second from /proc."""

    def __init__(self, worker: Worker) -> None:
        super().__init__(daemon=True)
        self.worker, self.samples = worker, []  # (seconds, MiB)
        self.stopped = threading.Event()

    def run(self) -> None:
        began = time.monotonic()
        while not self.stopped.wait(0.5):
            proc = self.worker.proc
            if proc is None or proc.poll() is not None:
                continue
            # The worker and its model process.
            self.samples.append((time.monotonic() - began, procfs.memory_kib(proc.pid) / 1024))

    def peak(self, since: float = 0.0, until: float = float("inf")) -> float:
        return max((mib for t, mib in self.samples if since <= t <= until), default=0.0)


def test_overload_five_times_capacity(settings: Settings, tmp_path: Path, model: ComplaintModel) -> None:
    """Issue 7.5: input five times faster than the worker keeps up with, for
    FLASHPOINT_OVERLOAD_SECONDS (120 for the long run): the backlog waits in Kafka, not
    in the worker's memory; nothing is dropped; the lag drains afterwards."""
    s = fault_settings(settings, tmp_path)
    big = workload(4_000 + int(5 * 3_000 * OVERLOAD_SECONDS), seed=19)
    worker = make_worker(s, tmp_path / "worker.log")
    rss = RssSampler(worker)
    try:
        worker.start()
        worker.wait_ready()
        rss.start()
        # Capacity first: a backlog of 4,000 mentions, drained as fast as the worker can.
        calibration = Replayer(s.bootstrap_servers, s.topic_mentions, big.messages[:4_000], rate=1e9)
        t = time.monotonic()
        calibration.start()
        drain(s, calibration, [worker], timeout=600)
        capacity = 4_000 / (time.monotonic() - t)
        rate = 5 * capacity
        n = min(len(big), 4_000 + int(rate * OVERLOAD_SECONDS))
        load = Workload(
            messages=big.messages[:n], bad=sum(1 for k, _ in big.messages[:n] if k.startswith(b"bad")), texts=big.texts
        )
        exp = expected(load, s, model)
        burst = Replayer(s.bootstrap_servers, s.topic_mentions, load.messages[4_000:], rate=rate)
        began = time.monotonic()
        rss_before = rss.peak(since=max(0.0, rss.samples[-1][0] - 2))
        burst.start()
        burst.join(OVERLOAD_SECONDS * 3 + 60)
        assert burst.finished_at is not None and burst.error is None, burst.error
        burst_s = burst.finished_at - began
        backlog = asyncio.run(behind(s))
        drained = drain(s, burst, [worker], timeout=1800)
        report = account(s, exp, load, [worker])
        end = rss.samples[-1][0]
        report |= {
            "capacity_mentions_per_s": round(capacity),
            "offered_mentions_per_s": round((n - 4_000) / burst_s),
            "burst_seconds": round(burst_s, 1),
            "backlog_at_end_of_burst": backlog,
            "drain_seconds_after_burst": round(drained, 1),
            "rss_mib_before_burst": round(rss_before),
            "rss_mib_peak": round(rss.peak()),
            "rss_mib_after_drain": round(rss.peak(since=end - 2)),
        }
        write_report("overload", report, REPORTS)
        assert backlog > (n - 4_000) // 2, "the worker really was overloaded"
        # Bounded: the backlog stays in Kafka. What the worker holds grows with the
        # cascades it tracks, not with what waits; 1 GiB is far above either here.
        assert report["rss_mib_peak"] < report["rss_mib_before_burst"] + 1024, report
    finally:
        rss.stopped.set()
        worker.stop()
