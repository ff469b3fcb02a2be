"""The fault suite (issue 7): the real worker on real Apache Kafka, with things going
wrong mid-stream. Each scenario replays a workload (pipeline/loadgen.py) and holds
what was published against a faultless run of the same flow functions: every expected
escalation exactly once, with the same figures, and every valid mention accounted for.

Sizes come from the environment, so the long runs are the same tests:
FLASHPOINT_FAULT_MENTIONS (default 20,000), FLASHPOINT_FAULT_KILLS (5),
FLASHPOINT_FAULT_SEED (11: where the kills land; other seeds try other moments),
FLASHPOINT_FAULT_REPORTS (a directory for one JSON report per scenario).
"""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pipeline.classification import ComplaintModel
from pipeline.loadgen import WATCHLIST, Replayer, Workload, workload
from pipeline.records import ClassifiedBatch, ClassifiedMention, DeadLetter
from pipeline.settings import Settings
from pipeline.telemetry import procfs
from pipeline.telemetry.lag import LagProbe
from tests.broker.conftest import Worker, free_port, kafka_sh, make_worker, run_settings
from tests.broker.replay import Expected, compare, expected, levels, write_report
from tests.conftest import REPO

pytestmark = pytest.mark.broker

MENTIONS = int(os.environ.get("FLASHPOINT_FAULT_MENTIONS", "20000"))
KILLS = int(os.environ.get("FLASHPOINT_FAULT_KILLS", "5"))
SEED = int(os.environ.get("FLASHPOINT_FAULT_SEED", "11"))
REPORTS = Path(os.environ["FLASHPOINT_FAULT_REPORTS"]) if os.environ.get("FLASHPOINT_FAULT_REPORTS") else None


@pytest.fixture(scope="module")
def model() -> ComplaintModel:
    s = Settings.from_env()
    return ComplaintModel.load(s.model_dir, "cpu", s.precision)


@pytest.fixture(scope="module")
def load() -> Workload:
    return workload(MENTIONS)


def fault_settings(s: Settings, tmp_path: Path, **changes: Any) -> Settings:
    path = tmp_path / "watchlist.toml"
    path.write_text(WATCHLIST)
    return s.replace(watchlist=path, **changes)


async def read_all(bootstrap: str, topic: str) -> list[tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]]:
    """Every committed message of ``topic`` now (up to its last stable offset)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    c = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, isolation_level="read_committed")
    await c.start()
    try:
        parts = c.partitions_for_topic(topic) or set()
        if not parts:
            await c._client.force_metadata_update()
            parts = c.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        c.assign(tps)
        await c.seek_to_beginning(*tps)
        ends = await c.end_offsets(tps)
        got = []
        while [tp for tp in tps if await c.position(tp) < ends[tp]]:
            for msgs in (await c.getmany(timeout_ms=500)).values():
                got += [(m.key, m.value, list(m.headers or ())) for m in msgs]
        return got
    finally:
        await c.stop()


async def behind(s: Settings) -> int:
    """Messages the group has not committed yet, over every topic the worker consumes."""
    probe = LagProbe(s.bootstrap_servers, s.app_id, timeout=10.0)
    await probe.start()
    try:
        tps = [(t, p) for t in (s.topic_mentions, s.topic_classified, s.topic_desk) for p in range(s.partitions)]
        return sum(lag.messages for lag in await probe.sample(tps))
    finally:
        await probe.stop()


def drain(s: Settings, replayer: Replayer, workers: list[Worker], timeout: float) -> float:
    """Wait until the input is all sent and the group has committed everything: the
    seconds that took after the last message was sent."""
    deadline = time.monotonic() + timeout
    replayer.join(timeout)
    assert replayer.error is None, f"the replayer failed: {replayer.error!r}"
    assert replayer.finished_at is not None, "the replayer did not finish"
    while time.monotonic() < deadline:
        for w in workers:
            if w.proc is not None and w.proc.poll() is not None:
                raise AssertionError(f"worker exited {w.proc.returncode}:\n{w.tail()}")
        if asyncio.run(behind(s)) == 0:
            return time.monotonic() - replayer.finished_at
        time.sleep(2)
    raise AssertionError("the group never caught up:\n" + "\n".join(w.tail() for w in workers))


def account(s: Settings, exp: Expected, w: Workload) -> dict[str, Any]:
    """What the topics hold now against the faultless run; asserts nothing lost or
    doubled. Whether the figures match is left to the caller (see CRASH_FIGURES)."""
    published = asyncio.run(read_all(s.bootstrap_servers, s.topic_escalations))
    outcome = compare([v for _, v, _ in published], exp)
    classified = asyncio.run(read_all(s.bootstrap_servers, s.topic_classified))
    items = [ClassifiedMention.from_dict(d) for _, v, _ in classified for d in ClassifiedBatch.items(v)]
    forwarded = {cm.mention.key for cm in items}
    dead = asyncio.run(read_all(s.bootstrap_servers, s.topic_dead_letter))
    letters = [DeadLetter.from_headers(h) for _, _, h in dead]
    dead_offsets = {(letter.source_partition, letter.source_offset) for letter in letters}
    report = {
        "messages_in": len(w),
        "valid_mentions": len(w) - w.bad,
        "malformed": w.bad,
        "escalations_expected": len(exp.events),
        "escalations_by_severity": dict(levels(exp)),
        "escalations_published": outcome.published,
        "lost": len(outcome.lost),
        "duplicated": sum(n - 1 for n in outcome.duplicated.values()),
        "unexpected": len(outcome.unexpected),
        "different_figures": len(outcome.different),
        "mentions_forwarded": len(forwarded),
        "mentions_forwarded_expected": len(exp.forwarded),
        "mentions_unmatched_expected": exp.unmatched,
        "dead_letters": len(dead_offsets),
        "dead_letters_expected": exp.dead,
        "redelivered_internally": len(items) - len(forwarded),
        "different_examples": outcome.different[:3],
    }
    assert not outcome.lost, f"lost escalations: {outcome.lost[:10]}; unexpected: {outcome.unexpected[:10]}"
    assert not outcome.duplicated, f"duplicated escalations: {list(outcome.duplicated.items())[:10]}"
    assert not outcome.unexpected, f"unexpected escalations: {outcome.unexpected[:10]}"
    assert forwarded == exp.forwarded, f"mentions missing from the cascade stage: {len(exp.forwarded - forwarded)}"
    assert len(dead_offsets) == exp.dead, "every malformed message dead-lettered, once per input offset"
    return report


def settle(
    name: str,
    s: Settings,
    exp: Expected,
    load: Workload,
    replayer: Replayer,
    workers: list[Worker],
    began: float,
    facts: dict[str, Any],
) -> dict[str, Any]:
    """Drain, account (asserting nothing lost or doubled) and write the scenario's
    report: what the topics hold, ``facts`` of the scenario, and its timing."""
    drained = drain(s, replayer, workers, timeout=600)
    report = account(s, exp, load) | facts
    report |= {
        "wall_seconds": round(time.monotonic() - began, 1),
        "caught_up_after_last_sent_seconds": round(drained, 1),
        "guarantee": s.processing_guarantee,
    }
    write_report(name, report, REPORTS)
    return report


def restart(worker: Worker, fault: Callable[[], None]) -> float:
    """``fault``, then start the worker again: seconds until it is ready."""
    fault()
    began = time.monotonic()
    worker.start()
    worker.wait_ready()
    return time.monotonic() - began


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
    worker = make_worker(s, tmp_path / "worker.log")
    rng = random.Random(SEED)
    try:
        worker.start()
        worker.wait_ready()
        # The replay spans the kills (a restart takes 30-50 s here: imports, the group
        # waiting for the dead member, changelog recovery): each lands mid-stream, at a
        # random point of the input, and after the restarted worker has done some work.
        replayer = Replayer(s.bootstrap_servers, s.topic_mentions, load.messages, rate=MENTIONS / (KILLS * 60))
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
        return settle("crashes", s, exp, load, replayer, [worker], began, {"kills": kills})
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


BROKER_MENTIONS = max(2_000, MENTIONS // 3)
# Brokers that go down listen below Linux's ephemeral range (32768-60999): clients
# reconnecting to a dead port inside it can connect to themselves and take the port.


def kafka_cmd(state_dir: Path, port: int, *args: str) -> None:
    env = {**os.environ, "KAFKA_STATE_DIR": str(state_dir), "KAFKA_PORT": str(port)}
    done = subprocess.run(
        [str(REPO / "deploy" / "kafka.sh"), *args], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, f"kafka.sh {' '.join(args)}: {done.stdout}\n{done.stderr}"


def replay_with_fault(
    name: str, s: Settings, tmp_path: Path, model: ComplaintModel, fault: Callable[[], dict[str, Any]]
) -> dict[str, Any]:
    """The broker-failure scenarios: one worker, the workload at a steady rate, and
    ``fault`` once a third of it is sent; then the same checks as for crashes."""
    load = workload(BROKER_MENTIONS, seed=13)
    exp = expected(load, s, model)
    worker = make_worker(s, tmp_path / "worker.log")
    try:
        worker.start()
        worker.wait_ready()
        replayer = Replayer(s.bootstrap_servers, s.topic_mentions, load.messages, rate=len(load) / 60)
        began = time.monotonic()
        replayer.start()
        while replayer.sent < len(load) // 3 and replayer.is_alive():
            time.sleep(0.05)
        facts = {"fault_at_s": round(time.monotonic() - began, 1), "sent_before_fault": replayer.sent}
        facts |= fault()
        report = settle(name, s, exp, load, replayer, [worker], began, facts)
        assert worker.proc is not None and worker.proc.poll() is None, "the worker recovered by itself"
        # The worker itself never restarts here, so no table recovery: same figures.
        assert report["different_figures"] == 0, report["different_examples"]
        return report
    finally:
        worker.stop()


def test_a_single_broker_restarted_mid_stream(
    settings: Settings, tmp_path: Path, model: ComplaintModel, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Issue 7.3: the only broker stops (SIGTERM) and comes back; the worker carries on."""
    port, state = 21400, tmp_path_factory.mktemp("kafka-restart")
    with kafka_sh(state, KAFKA_PORT=str(port)):
        s = fault_settings(settings, tmp_path, bootstrap_servers=f"127.0.0.1:{port}")

        def restart_broker() -> dict[str, Any]:
            t = time.monotonic()
            kafka_cmd(state, port, "stop")
            time.sleep(10)  # down for a while, as in a rolling upgrade gone slow
            kafka_cmd(state, port, "restart", "1")
            return {"broker_down_s": round(time.monotonic() - t, 1)}

        replay_with_fault("broker-restart", s, tmp_path, model, restart_broker)


def test_three_node_cluster_loses_a_broker_mid_stream(
    settings: Settings, tmp_path: Path, model: ComplaintModel, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Issue 7.3: replication factor 3, min.insync.replicas=2, acks=all; node 1 is
    SIGKILLed mid-stream and restarted later: zero loss, zero duplicates."""
    port, state = 21500, tmp_path_factory.mktemp("kafka-cluster")
    with kafka_sh(state, "3", KAFKA_PORT=str(port)):
        servers = ",".join(f"127.0.0.1:{port + 2 * i}" for i in range(3))
        s = fault_settings(settings, tmp_path, bootstrap_servers=servers, replication_factor=3)

        def kill_node() -> dict[str, Any]:
            t = time.monotonic()
            kafka_cmd(state, port, "kill", "1")
            time.sleep(20)  # the cluster runs on two nodes meanwhile
            kafka_cmd(state, port, "restart", "1")
            return {"node_killed": 1, "node_down_s": round(time.monotonic() - t, 1)}

        report = replay_with_fault("cluster-node-killed", s, tmp_path, model, kill_node)
        assert report["lost"] == 0 and report["duplicated"] == 0


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
        make_worker(s.replace(metrics_port=free_port(), data_dir=tmp_path / f"data{i}"), tmp_path / f"worker{i}.log")
        for i in range(2)
    ]
    try:
        for w in workers:
            w.start()
        for w in workers:
            w.wait_ready()
        wait_until_shared(workers, s)
        replayer = Replayer(s.bootstrap_servers, s.topic_mentions, load.messages, rate=len(load) / 90)
        began = time.monotonic()
        replayer.start()
        while replayer.sent < len(load) // 4 and replayer.is_alive():
            time.sleep(0.05)
        facts: dict[str, Any] = {"killed_at_s": round(time.monotonic() - began, 1), "sent_before_kill": replayer.sent}
        workers[1].kill()
        t = time.monotonic()
        deadline = t + 120
        while assigned(workers[0], s.topic_classified) < s.partitions and time.monotonic() < deadline:
            time.sleep(0.2)
        assert assigned(workers[0], s.topic_classified) == s.partitions, workers[0].tail()
        facts["all_partitions_on_survivor_after_s"] = round(time.monotonic() - t, 1)
        while replayer.sent < len(load) // 2 and replayer.is_alive():
            time.sleep(0.05)
        facts["back_at_s"] = round(time.monotonic() - began, 1)
        t = time.monotonic()
        workers[1].start()
        workers[1].wait_ready()
        wait_until_shared(workers, s)
        facts["shared_again_after_s"] = round(time.monotonic() - t, 1)
        settle("rebalance", s, exp, load, replayer, workers, began, facts)
        assert workers[0].started_over() == [], workers[0].tail()
        assert workers[1].started_over() == [], workers[1].tail()
    finally:
        for w in workers:
            w.stop()


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
        report = account(s, exp, load)
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
