"""The real worker against a real Apache Kafka: mentions in, escalations and dead letters out."""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest

from pipeline.escalation import LEVELS
from pipeline.records import DeadLetter, partition_of
from pipeline.settings import Settings
from tests.broker.conftest import Worker, collect, free_port, make_worker, produce
from tests.factories import assert_valid_escalation, at, mention_bytes

pytestmark = pytest.mark.broker

# A complaint the model does not read as outright blame (severity 4 would raise every
# level by one); test_root_text_is_a_plain_complaint pins that premise.
ROOT_TEXT = "@AcmeCustServ my widget has been broken for 5 days. Nobody answers the phone."


def test_root_text_is_a_plain_complaint() -> None:
    from pipeline.classification import ComplaintModel

    s = Settings.from_env()
    (verdict,) = ComplaintModel.load(s.model_dir, "cpu", s.precision).predict([ROOT_TEXT])
    assert verdict.complaint_probability > 0.9 and verdict.severity < 4, verdict


def viral_cascade(root_id: str, followers: list[int], start: float = 0.0, step: float = 1.0) -> list[bytes]:
    return [
        mention_bytes(
            id=f"{root_id}-rp{i}",
            kind="repost",
            parent_id=root_id,
            root_id=root_id,
            text="",
            created_at=at(start + i * step),
            author={"id": f"{root_id}-fan{i}", "followers": f},
        )
        for i, f in enumerate(followers)
    ]


def root(root_id: str) -> bytes:
    return mention_bytes(
        id=root_id,
        text=ROOT_TEXT,
        created_at=at(0),
        author={"id": f"{root_id}-alice", "handle": "alice", "followers": 1_200},
    )


BAD = {
    b"{definitely not json": "not valid JSON",
    mention_bytes(id="bad1", kind="repost", text=""): "parent_id is required for a repost",
    mention_bytes(id="bad2", author={"followers": -3}): "author.followers: must be >= 0",
    mention_bytes(id="bad3", kind="meme"): "kind: 'meme' is not one of",
    mention_bytes(id="bad4", text="x" * 10_001): "text: longer than 10000 characters",
    mention_bytes(id="bad5", created_at="2026-13-45T99:00:00Z"): "created_at:",
}


def escalations_of(raw: list[tuple[Any, bytes | None, Any]]) -> list[dict[str, Any]]:
    return [orjson.loads(v or b"{}") for _, v, _ in raw]


def assert_clean_sequence(events: list[dict[str, Any]]) -> None:
    by_key: dict[str, list[tuple[str, str]]] = {}
    for e in events:
        d = e["data"]
        by_key.setdefault(d["dedup_key"], []).append((d["action"], d["severity"]))
    for key, seq in by_key.items():
        assert seq[0][0] == "open" and all(a == "upgrade" for a, _ in seq[1:]), (key, seq)
        levels = [LEVELS.index(s) for _, s in seq]
        assert levels == sorted(set(levels)), f"{key}: severities must strictly rise, got {seq}"


def test_mentions_become_escalations_and_dead_letters(worker: Worker) -> None:
    s = worker.settings
    worker.start()
    cascade = [root("r1"), *viral_cascade("r1", [3000] * 10 + [200000, 800000])]
    praise = mention_bytes(
        id="p1", text="Huge thanks @AcmeCustServ for the quick replacement, brilliant!", author={"followers": 900_000}
    )
    unmatched = mention_bytes(id="u1", text="Lovely sunset tonight", author={"followers": 50_000})
    stream = cascade[:1] + list(BAD) + cascade[1:] + [praise, unmatched, cascade[0], cascade[3]]

    async def go() -> tuple[list[Any], list[Any]]:
        # One key: the integrator's order is kept, so the cascade rises level by level.
        await produce(s.bootstrap_servers, s.topic_mentions, stream, key=b"integrator-1")
        esc, dead = await asyncio.gather(
            collect(s.bootstrap_servers, s.topic_escalations, until=4, timeout=180, worker=worker, settle=5),
            collect(s.bootstrap_servers, s.topic_dead_letter, until=len(BAD), timeout=180, worker=worker),
        )
        return esc, dead

    esc_raw, dead = asyncio.run(go())
    events = escalations_of(esc_raw)
    assert [(e["data"]["action"], e["data"]["severity"]) for e in events] == [
        ("open", "info"),
        ("upgrade", "warning"),
        ("upgrade", "error"),
        ("upgrade", "critical"),
    ], worker.tail()
    for e in events:
        assert_valid_escalation(e)
    last = events[-1]["data"]
    assert last["brand"] == "Acme" and last["addressed"] is True
    # The default watchlist routes Acme's broken widgets to its quality team, and every
    # event of the escalation keeps that owner.
    assert {(e["data"]["topic"], e["data"]["team"]) for e in events} == {("faulty_product", "acme-quality")}
    assert last["root_post"]["id"] == "r1" and last["root_post"]["author_handle"] == "alice"
    assert last["reach"]["potential"] == 1_200 + 10 * 3_000 + 200_000 + 800_000
    assert last["participants"] == 13 and last["reach"]["reposts"] == 12
    # Twelve reposts in twelve seconds: forecast and reported, too early to act on.
    assert last["forecast"]["reposts_seen"] == 12 and last["forecast"]["observed_seconds"] == 11
    assert not any(r.startswith("Forecast:") for r in last["reasons"])
    assert all(k == e["data"]["dedup_key"].encode() for (k, _, _), e in zip(esc_raw, events, strict=True))

    assert len(dead) == len(BAD)
    for key, value, headers in dead:
        assert value in BAD, "dead letters carry the original bytes unchanged"
        letter = DeadLetter.from_headers(headers)
        assert BAD[value] in letter.reason
        assert letter.source_topic == s.topic_mentions and letter.source_offset >= 0
        assert key == b"integrator-1"

    metrics = worker.metrics()
    assert re.search(r'flashpoint_mentions_total\{outcome="dead_letter"\} 6\.0', metrics)
    assert re.search(r'flashpoint_mentions_total\{outcome="unmatched"\} 1\.0', metrics)
    redelivered = r'flashpoint_mentions_total\{outcome="duplicate"\} 2\.0'
    assert re.search(redelivered, metrics), "root and one repost redelivered"
    assert worker.stop() == 0, "SIGTERM stops the worker cleanly"


def assigned(w: Worker, topic: str) -> float:
    try:
        m = re.search(rf'flashpoint_assigned_partitions\{{topic="{re.escape(topic)}"\}} (\S+)', w.metrics())
    except OSError:
        return 0.0
    return float(m.group(1)) if m else 0.0


def wait_until_shared(workers: list[Worker], s: Settings, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        shares = [assigned(w, s.topic_classified) for w in workers]
        if all(shares) and sum(shares) == s.partitions:
            return
        time.sleep(0.5)
    raise AssertionError(f"partitions never shared: {shares}\n" + "\n".join(w.tail() for w in workers))


@pytest.mark.parametrize("guarantee", ["at_least_once", "exactly_once"])
def test_two_workers_share_the_partitions_and_each_cascade_escalates_once(
    settings: Settings, tmp_path: Path, guarantee: str
) -> None:
    workers = [
        make_worker(
            settings.replace(metrics_port=free_port(), data_dir=tmp_path / f"data{i}", processing_guarantee=guarantee),
            tmp_path / f"worker{i}.log",
        )
        for i in range(2)
    ]
    try:
        for w in workers:
            w.start()
        wait_until_shared(workers, settings)
        roots = [f"c{i}" for i in range(8)]
        stream = []
        for r in roots:
            stream += [root(r), *viral_cascade(r, [25_000])]  # warning in the end (info first if in order)

        async def go() -> list[Any]:
            await produce(settings.bootstrap_servers, settings.topic_mentions, stream)
            return await collect(
                settings.bootstrap_servers,
                settings.topic_escalations,
                until=len(roots),
                timeout=90,
                worker=workers[0],
                settle=10,
            )

        events = escalations_of(asyncio.run(go()))
        # Random keys spread a cascade's mentions over input partitions, so a repost may
        # overtake its root: then the cascade opens at warning directly.
        final = {e["data"]["root_post"]["id"]: e["data"]["severity"] for e in events}
        assert final == dict.fromkeys(roots, "warning"), f"{final}\n{workers[0].tail()}\n{workers[1].tail()}"
        pairs = Counter((e["data"]["dedup_key"], e["data"]["severity"]) for e in events)
        assert all(n == 1 for n in pairs.values()), pairs
        assert_clean_sequence(events)
        busy = [
            float(m.group(1))
            if (m := re.search(r'flashpoint_cascade_events_total\{kind="post"\} (\S+)', w.metrics()))
            else 0.0
            for w in workers
        ]
        assert all(n > 0 for n in busy), f"each worker tracked some cascades: {busy}"
        # A rebalance may hand a partition over mid-stream; its aborted work is redone.
        assert sum(busy) >= len(roots)
    finally:
        for w in workers:
            w.stop()


def test_quiet_cascades_expire_and_late_reposts_do_not_revive_them(settings: Settings, tmp_path: Path) -> None:
    s = settings.replace(cascade_ttl_seconds=3.0, sweep_interval_seconds=1.0)
    worker = make_worker(s, tmp_path / "worker.log")
    try:
        worker.start()
        home = partition_of("twitter:e1", s.partitions)
        # Another cascade on the same partition: its events trigger that partition's sweep.
        other = next(f"e{i}" for i in range(2, 200) if partition_of(f"twitter:e{i}", s.partitions) == home)
        asyncio.run(produce(s.bootstrap_servers, s.topic_mentions, [root("e1"), *viral_cascade("e1", [3_000])]))
        assert len(asyncio.run(collect(s.bootstrap_servers, s.topic_escalations, until=1, timeout=180, worker=worker)))
        time.sleep(5)
        asyncio.run(produce(s.bootstrap_servers, s.topic_mentions, [root(other)]))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            m = re.search(r"^flashpoint_cascades_expired_total (\S+)$", worker.metrics(), re.M)
            if m and float(m.group(1)) >= 1:
                break
            time.sleep(0.5)
        else:
            raise AssertionError(f"no cascade expired:\n{worker.tail()}")
        # A repost of the forgotten cascade that would have made it critical: it starts
        # over without its root, so nothing escalates.
        late = viral_cascade("e1", [900_000], start=10)[0].replace(b"e1-rp0", b"e1-late")
        asyncio.run(produce(s.bootstrap_servers, s.topic_mentions, [late]))
        events = escalations_of(
            asyncio.run(collect(s.bootstrap_servers, s.topic_escalations, until=99, timeout=15, worker=worker))
        )
        assert [(e["data"]["dedup_key"], e["data"]["action"]) for e in events] == [
            ("Acme/twitter:e1", "open"),
            (f"Acme/twitter:{other}", "open"),
        ], worker.tail()
    finally:
        worker.stop()
