"""The fault suite's workload and its yardstick.

:func:`workload` makes a reproducible stream like real brand traffic: many cascades of
very different sizes (originals, a few complaining replies, mostly reposts), some of
them escalating to every level, a few malformed messages, and roots that name no
watched brand. Each cascade is keyed by its root, as an integrator keeps a
conversation in order.

:func:`expected` is what a run without faults makes of it: the same flow functions the
worker calls (ingest, track, desk), in process, over plain dicts, with the real model's
verdicts. :func:`compare` holds what a real run published against that.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer

from pipeline import flow
from pipeline.brands import Watchlist
from pipeline.classification.model import Verdict
from pipeline.escalation import Policies, Policy
from pipeline.escalation.desk import Desk
from pipeline.flow import Incoming
from pipeline.reach import CascadeTracker, Forecaster
from pipeline.reach.cascade import RESPONSE_COMPLAINT_PROBABILITY
from pipeline.settings import Settings
from tests.factories import at, mention_bytes

# Pile-ons and reminders depend on how cascades interleave and on the wall clock, not
# on faults: switched off here so that a faultless run has one right answer. The desk's
# state still goes through every crash (lifecycle), and test_desk_kafka covers them.
# Watched brands: (name, handle, hashtag), one place for the watchlist and the texts.
BRANDS = [("Acme", "AcmeCustServ", "Acme"), ("Northwind Air", "NorthwindAir", "NorthwindAir")]
WATCHLIST = "".join(
    f"""
[[brand]]
name = "{name}"
handles = ["{handle}"]
hashtags = ["{tag}"]
[brand.policy]
pile_on_authors = [1000000, 1000000, 1000000, 1000000]
reminder_minutes = [0, 0, 0, 0]
"""
    for name, handle, tag in BRANDS
)
HANDLES = [(handle, tag) for _, handle, tag in BRANDS]

# A few texts the model reads clearly either way, whatever batch they are in (expected() checks).
COMPLAINTS = [
    "@{h} my order has been broken for 5 days and nobody answers the phone.",
    "@{h} third time I've asked: where is my refund? Still nothing.",
    "@{h} your app charged me twice and support just closed my ticket",
    "@{h} cancelled my booking without telling me, now I'm stuck at the airport",
]
ABOUT = [
    "My order has been broken for 5 days and nobody answers the phone. #{tag}",
    "Your app charged me twice and support just closed my ticket #{tag}",
]
PRAISE = [
    "Huge thanks @{h} for the quick replacement, brilliant service!",
    "@{h} love the new update, great job team",
]
UNWATCHED = ["Lovely sunset over the harbour tonight", "Anyone watching the match later?"]
REPLIES = ["@{h} so's mine, still broken after a week and your support is useless. Disgusting."]


@dataclass
class Workload:
    messages: list[tuple[bytes, bytes]]  # (key, value) in the order sent
    bad: int  # malformed messages among them
    texts: list[str]  # every distinct text the model will see

    def __len__(self) -> int:
        return len(self.messages)

    def prefix(self, n: int) -> Workload:
        """The first ``n`` messages: a stream cut short is still a valid stream."""
        messages = self.messages[:n]
        return Workload(messages, sum(1 for k, _ in messages if k.startswith(b"bad")), self.texts)


def workload(n: int = 20_000, originals: float = 0.3, seed: int = 7) -> Workload:
    """About ``n`` messages, ``originals`` of them posts and replies, the rest reposts."""
    rng = random.Random(seed)
    n_roots = max(1, round(n * originals * 0.95))
    n_replies = round(n * originals) - n_roots
    n_bad = max(1, n // 200)
    n_reposts = max(0, n - n_roots - n_replies - n_bad)
    events: list[tuple[float, bytes, bytes]] = []  # (seconds, key, value)
    watched: list[int] = []
    for i in range(n_roots):
        rid = f"r{seed}-{i}"
        h, tag = HANDLES[i % len(HANDLES)]
        draw = rng.random()
        if draw < 0.45:
            text = rng.choice(COMPLAINTS).format(h=h)
        elif draw < 0.55:
            text = rng.choice(ABOUT).format(tag=tag)
        elif draw < 0.8:
            text = rng.choice(PRAISE).format(h=h)
        else:
            text = rng.choice(UNWATCHED)
        if draw < 0.8:
            watched.append(i)
        t = i * 2.0
        followers = int(rng.lognormvariate(6.5, 1.5))
        events.append((t, rid.encode(), _post(rid, text, t, followers)))
    # A heavy tail: a few cascades take most reposts, as on real platforms.
    weights = [1.0 / (rank + 1) ** 1.1 for rank in range(n_roots)]
    rng.shuffle(weights)
    last: dict[int, float] = {}
    for j, i in enumerate(rng.choices(range(n_roots), weights=weights, k=n_reposts)):
        rid = f"r{seed}-{i}"
        t = last.get(i, i * 2.0) + rng.expovariate(1 / 30)
        last[i] = t
        big = rng.random() < 0.01
        followers = rng.randint(200_000, 2_000_000) if big else int(rng.lognormvariate(5.5, 1.6))
        events.append((t, rid.encode(), _response(rid, f"{rid}-rp{j}", "repost", "", t, followers)))
    for j in range(n_replies):
        i = rng.choice(watched)
        rid, (h, _) = f"r{seed}-{i}", HANDLES[i % len(HANDLES)]
        t = last.get(i, i * 2.0) + rng.expovariate(1 / 30)
        last[i] = t
        text = REPLIES[0].format(h=h)
        events.append((t, rid.encode(), _response(rid, f"{rid}-re{j}", "reply", text, t, 300)))
    events.sort(key=lambda e: e[0])
    messages = [(k, v) for _, k, v in events]
    bad = [b"{not json", mention_bytes(id="bad", author={"followers": -1}), mention_bytes(kind="repost", text="")]
    for j in range(n_bad):
        messages.insert(rng.randrange(len(messages) + 1), (f"bad{j}".encode(), bad[j % len(bad)]))
    texts = sorted(
        {t.format(h=h) for t in COMPLAINTS + PRAISE + REPLIES for h, _ in HANDLES}
        | set(UNWATCHED)
        | {a.format(tag=tag) for a in ABOUT for _, tag in HANDLES}
    )
    return Workload(messages=messages, bad=n_bad, texts=texts)


def _post(rid: str, text: str, t: float, followers: int) -> bytes:
    return mention_bytes(id=rid, text=text, created_at=at(t), author={"id": f"{rid}-author", "followers": followers})


def _response(rid: str, pid: str, kind: str, text: str, t: float, followers: int) -> bytes:
    return mention_bytes(
        id=pid,
        kind=kind,
        parent_id=rid,
        root_id=rid,
        text=text,
        created_at=at(t),
        author={"id": f"{pid}-author", "followers": followers},
    )


class Lookup:
    """The real model's verdicts, looked up by text (the workload has few texts)."""

    version = "lookup"

    def __init__(self, verdicts: dict[str, Verdict], version: str) -> None:
        self.verdicts = verdicts
        self.version = version

    def predict(self, texts: Sequence[str], batch_size: int = 64) -> list[Verdict]:
        return [self.verdicts[t] for t in texts]


@dataclass
class Expected:
    events: list[dict[str, Any]]  # the escalations, in the order a faultless run makes them
    forwarded: set[str]  # mention keys that reach the cascade stage
    dead: int  # messages dead-lettered
    unmatched: int

    def by_id(self) -> dict[str, dict[str, Any]]:
        return {e["id"]: e for e in self.events}


def expected(w: Workload, s: Settings, model: Any) -> Expected:
    """What a faultless run publishes for ``w``: the worker's flow functions, in process."""
    verdicts = dict(zip(w.texts, model.predict(w.texts), strict=True))
    for text, v in verdicts.items():
        # int8 arithmetic shifts a verdict slightly with the batch around it: a text near
        # a threshold, or between two severities, could tip either way in the worker.
        alone = model.predict([text])[0]
        assert alone.severity == v.severity, f"severity of {text!r} depends on its batch: {alone} {v}"
        for threshold in (s.min_complaint_probability, RESPONSE_COMPLAINT_PROBABILITY):
            assert abs(v.complaint_probability - threshold) > 0.1, (text, v)
    lookup = Lookup(verdicts, model.version)
    watchlist = Watchlist.load(s.watchlist)
    policy = Policies.build(Policy.from_settings(s), watchlist.policy_tables(), str(s.watchlist))
    forecaster = Forecaster.load(s.reach_model)
    tracker = CascadeTracker({}, {}, {}, max_pending=s.max_pending_per_cascade)
    desk = Desk({}, {}, {}, policies=policy, source=f"urn:flashpoint:{s.app_id}")
    now = datetime.now(UTC)
    out = Expected(events=[], forwarded=set(), dead=0, unmatched=0)
    for start in range(0, len(w.messages), 64):
        batch = [Incoming(v, k, s.topic_mentions, 0, -1) for k, v in w.messages[start : start + 64]]
        result = flow.ingest(batch, watchlist, lookup, now)
        out.dead += len(result.dead)
        out.unmatched += result.unmatched
        for cm in result.forward:
            out.forwarded.add(cm.mention.key)
            if tracker.posts.get(cm.mention.key) is not None:
                continue
            for sig in flow.track(cm, tracker, policy, now, "urn:t", forecaster):
                out.events += flow.desk(sig, desk, 0, now).events
    return out


# What a replay may change in an escalation: when it was sent, and the last digits of
# the model's probability (int8 arithmetic differs slightly with the batch around a text).
VOLATILE = {"time", "escalated_at", "complaint_probability"}


def figures(event: dict[str, Any]) -> dict[str, Any]:
    data = {k: v for k, v in event["data"].items() if k not in VOLATILE}
    return {"id": event["id"], "subject": event["subject"], "data": data}


@dataclass
class Outcome:
    published: int
    distinct: int
    lost: list[str] = field(default_factory=list)
    duplicated: dict[str, int] = field(default_factory=dict)
    unexpected: list[str] = field(default_factory=list)
    different: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not (self.lost or self.duplicated or self.unexpected or self.different)


def compare(published: list[bytes | None], exp: Expected) -> Outcome:
    """Each expected escalation exactly once, with the faultless run's figures."""
    events = [orjson.loads(v or b"{}") for v in published]
    want = exp.by_id()
    counts = Counter(e["id"] for e in events)
    out = Outcome(published=len(events), distinct=len(counts))
    out.lost = sorted(_describe(want[i]) for i in set(want) - set(counts))
    out.duplicated = {i: n for i, n in counts.items() if n > 1}
    out.unexpected = sorted(_describe(e) for e in events if e["id"] not in want)
    for e in events:
        if e["id"] in want and figures(e) != figures(want[e["id"]]):
            got, exp_ = figures(e)["data"], figures(want[e["id"]])["data"]
            diff = {k: (got.get(k), exp_.get(k)) for k in got.keys() | exp_.keys() if got.get(k) != exp_.get(k)}
            out.different.append(f"{_describe(e)}: (published, faultless) {diff}")
    return out


def _describe(e: dict[str, Any]) -> str:
    return f"{e['subject']} {e['data']['action']} {e['data']['severity']}"


def levels(exp: Expected) -> Counter[str]:
    return Counter(e["data"]["severity"] for e in exp.events)


class Replayer(threading.Thread):
    """Sends a workload at a steady rate from its own thread (and event loop), so the
    test can kill and restart things meanwhile. Idempotent and acks=all: the input
    itself is never lost or doubled by a broker failure."""

    def __init__(self, bootstrap: str, topic: str, messages: list[tuple[bytes, bytes]], rate: float) -> None:
        super().__init__(daemon=True)
        self.bootstrap, self.topic, self.messages, self.rate = bootstrap, topic, messages, rate
        self.sent = 0
        self.error: BaseException | None = None
        self.finished_at: float | None = None

    def run(self) -> None:
        try:
            asyncio.run(self._send())
        except BaseException as exc:
            self.error = exc

    async def _send(self) -> None:
        p = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap, acks="all", enable_idempotence=True, request_timeout_ms=120_000
        )
        await p.start()
        try:
            began = time.monotonic()
            pending = []
            for i, (key, value) in enumerate(self.messages):
                pending.append(await p.send(self.topic, value, key=key))
                self.sent = i + 1
                ahead = began + (i + 1) / self.rate - time.monotonic()
                if ahead > 0:
                    await asyncio.sleep(ahead)
                if len(pending) >= 1000:
                    await asyncio.gather(*pending)
                    pending.clear()
            await asyncio.gather(*pending)
            await p.flush()
        finally:
            await p.stop()
        self.finished_at = time.monotonic()


def write_report(name: str, report: dict[str, Any], directory: Path | None) -> None:
    """One JSON file per scenario, for docs/reliability.md (FLASHPOINT_FAULT_REPORTS)."""
    print(f"\nFAULT REPORT {name}: {orjson.dumps(report).decode()}")
    if directory is not None:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / f"{name}.json").write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
