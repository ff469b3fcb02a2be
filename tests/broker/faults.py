"""What the fault suite's scenarios share (issue 7): the real worker on real Apache
Kafka, with things going wrong mid-stream. Each scenario replays a workload
(pipeline/loadgen.py) and holds what was published against a faultless run of the same
flow functions: every expected escalation exactly once, with the same figures, and every
valid mention accounted for. The scenarios are the ``test_faults_*_kafka.py`` files, one
per kind of fault, so that the full run can spread them over two processes.

Sizes come from the environment, so the long runs are the same tests:
FLASHPOINT_FAULT_MENTIONS (default 6,000), FLASHPOINT_FAULT_KILLS (2),
FLASHPOINT_FAULT_SEED (11: where the kills land; other seeds try other moments),
FLASHPOINT_FAULT_REPORTS (a directory for one JSON report per scenario),
FLASHPOINT_FAULT_AMPLIFY (1 by default: the crash and rebalance scenarios run the
worker with its race windows widened, tests/broker/amplify.py; 0 runs it as shipped).
FLASHPOINT_TEST_FETCH_MAX_WAIT_SECONDS and FLASHPOINT_TEST_FETCH_MIN_BYTES set the
workers' fetch bound (tests/broker/conftest.py; default the settings', 0.01 s and 4,096 bytes).
benchmarks/fault_seeds.sh runs the SIGKILL scenario over several seeds.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pipeline.classification import ComplaintModel
from pipeline.loadgen import WATCHLIST, Replayer, Workload, workload
from pipeline.records import ClassifiedBatch, ClassifiedMention, DeadLetter
from pipeline.settings import Settings
from pipeline.telemetry.lag import LagProbe
from tests.broker.conftest import Worker, make_worker
from tests.broker.replay import Expected, compare, expected, levels, write_report
from tests.conftest import REPO

# The CI default: the smallest run tried that still catches every race the amplified
# worker makes likely (docs/decisions/2026-12-07-race-amplifiers.md).
MENTIONS = int(os.environ.get("FLASHPOINT_FAULT_MENTIONS", "6000"))
KILLS = int(os.environ.get("FLASHPOINT_FAULT_KILLS", "2"))
SEED = int(os.environ.get("FLASHPOINT_FAULT_SEED", "11"))
REPORTS = Path(os.environ["FLASHPOINT_FAULT_REPORTS"]) if os.environ.get("FLASHPOINT_FAULT_REPORTS") else None
WORKER_MODULE = "tests.broker.amplify" if os.environ.get("FLASHPOINT_FAULT_AMPLIFY", "1") == "1" else "pipeline"

BROKER_MENTIONS = max(2_000, MENTIONS // 3)
# Brokers that go down listen below Linux's ephemeral range (32768-60999): clients
# reconnecting to a dead port inside it can connect to themselves and take the port.


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


def account(s: Settings, exp: Expected, w: Workload, workers: Sequence[Worker] = ()) -> dict[str, Any]:
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
    } | skips(s, workers)
    problems = []
    if outcome.lost:
        problems.append(f"lost escalations: {outcome.lost[:10]}")
    if outcome.duplicated:
        problems.append(f"duplicated escalations: {list(outcome.duplicated.items())[:10]}")
    if outcome.unexpected:
        problems.append(f"unexpected escalations: {outcome.unexpected[:10]}")
    if forwarded != exp.forwarded:
        missing = sorted(exp.forwarded - forwarded)
        problems.append(f"mentions missing from the cascade stage: {len(missing)} ({missing[:10]})")
    if len(dead_offsets) != exp.dead:
        problems.append(f"dead letters: {len(dead_offsets)} input offsets, expected {exp.dead}")
    if problems:
        # The cascades involved, as the worker logs name them ('Acme/twitter:r7-1104 open
        # info' is cascade twitter:r7-1104), with every error the workers logged.
        cascades = {d.rsplit(" ", 2)[0].split("/", 1)[-1] for d in outcome.lost[:10] + outcome.unexpected[:10]}
        cascades |= {str(i) for i in list(outcome.duplicated)[:10]}
        evidence = "\n".join(w.evidence(*sorted(cascades)) for w in workers)
        raise AssertionError("\n".join(problems) + "\n" + evidence)
    return report


def skips(s: Settings, workers: Sequence[Worker]) -> dict[str, Any]:
    """What the workers' logs say of records skipped (see :func:`skipped`)."""
    text = "\n".join(w.log.read_text(errors="replace") for w in workers if w.log.exists())
    return skipped(text, (s.topic_mentions, s.topic_classified))


def skipped(log: str, untransacted: tuple[str, ...]) -> dict[str, Any]:
    """What a worker log says of records skipped: Faust's gap bookings over more than
    one offset, those on topics written without transactions (names ending in one of
    ``untransacted``: a gap there is records jumped over, handled before or not), and
    the records fix 2 dropped as fetched before a seek. benchmarks/fault_seeds.sh uses
    it too."""
    booked = re.findall(r"offsets (\d+) to (\d+) of (\S+?)\[(\d+)\] booked as read", log)
    gaps = [f"{topic}[{p}] {first}..{last}" for first, last, topic, p in booked if topic.endswith(untransacted)]
    return {
        "gaps_booked": len(booked),
        "gaps_on_untransacted_topics": gaps[:20],
        "stale_records_dropped": log.count("fetched before the partition's latest seek: dropped"),
    }


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
    report = account(s, exp, load, workers) | facts
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
