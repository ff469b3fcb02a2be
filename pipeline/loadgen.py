"""Synthetic brand traffic, for load tests: the benchmark (``benchmarks/``) and the
fault suite (``tests/broker/test_faults_*_kafka.py``) replay it against real Kafka.

:func:`workload` makes a reproducible stream shaped like real brand traffic: many
cascades of very different sizes (a heavy tail: a few take most reposts), originals
that complain, praise or name no watched brand, a few complaining replies, mostly
reposts, and some malformed messages. Each cascade is keyed by its root, as an
integrator keeps a conversation in order. :class:`Replayer` sends one at a steady rate.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer

# Watched brands: (name, handle, hashtag), one place for the watchlist and the texts.
BRANDS = [("Acme", "AcmeCustServ", "Acme"), ("Northwind Air", "NorthwindAir", "NorthwindAir")]
# Pile-ons and reminders depend on how cascades interleave and on the wall clock: off,
# so that a faultless run has one right answer (the fault suite compares against it).
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

# A few texts the model reads clearly either way, whatever batch they are in.
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
T0 = datetime(2026, 11, 22, 14, 0, tzinfo=UTC)


@dataclass
class Workload:
    messages: list[tuple[bytes, bytes]]  # (key, value) in the order sent
    bad: int  # malformed messages among them
    texts: list[str]  # every distinct text the model will see
    originals: int = 0  # posts and replies: what the model classifies
    events: list[tuple[str, str]] = field(default_factory=list)  # (root id, created_at) per message
    # Each message's partition, for records partitioned already (the cascade stage's
    # input, ClassifiedBatch); empty: by key. ``mentions``: how many they carry.
    partitions: list[int] = field(default_factory=list)
    mentions: int = 0

    def __len__(self) -> int:
        return len(self.messages)

    def prefix(self, n: int) -> Workload:
        """The first ``n`` messages: a stream cut short is still a valid stream."""
        messages = self.messages[:n]
        bad = sum(1 for k, _ in messages if k.startswith(b"bad"))
        return Workload(messages, bad, self.texts, events=self.events[:n])


def workload(n: int = 20_000, originals: float = 0.3, seed: int = 7) -> Workload:
    """About ``n`` messages, ``originals`` of them posts and replies, the rest reposts."""
    rng = random.Random(seed)
    n_roots = max(1, round(n * originals * 0.95))
    n_replies = round(n * originals) - n_roots
    n_bad = max(1, n // 200)
    n_reposts = max(0, n - n_roots - n_replies - n_bad)
    events: list[tuple[float, str, bytes]] = []  # (seconds, root id, value)
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
        events.append((t, rid, _mention(rid, "post", text, t, followers)))
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
        events.append((t, rid, _mention(f"{rid}-rp{j}", "repost", "", t, followers, root=rid)))
    for j in range(n_replies):
        i = rng.choice(watched)
        rid, (h, _) = f"r{seed}-{i}", HANDLES[i % len(HANDLES)]
        t = last.get(i, i * 2.0) + rng.expovariate(1 / 30)
        last[i] = t
        text = REPLIES[0].format(h=h)
        events.append((t, rid, _mention(f"{rid}-re{j}", "reply", text, t, 300, root=rid)))
    events.sort(key=lambda e: e[0])
    messages = [(rid.encode(), v) for _, rid, v in events]
    stamps = [(rid, _at(t)) for t, rid, _ in events]
    for j in range(n_bad):
        where = rng.randrange(len(messages) + 1)
        messages.insert(where, (f"bad{j}".encode(), BAD[j % len(BAD)]))
        stamps.insert(where, ("", ""))
    texts = sorted(
        {t.format(h=h) for t in COMPLAINTS + PRAISE + REPLIES for h, _ in HANDLES}
        | set(UNWATCHED)
        | {a.format(tag=tag) for a in ABOUT for _, tag in HANDLES}
    )
    return Workload(messages=messages, bad=n_bad, texts=texts, originals=n_roots + n_replies, events=stamps)


def _at(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


def _mention(pid: str, kind: str, text: str, t: float, followers: int, root: str | None = None) -> bytes:
    doc: dict[str, Any] = {
        "id": pid,
        "platform": "twitter",
        "kind": kind,
        "text": text,
        "created_at": _at(t),
        "author": {"id": f"{pid}-author", "handle": f"u{pid}", "followers": followers, "verified": False},
        "lang": "en",
        "url": f"https://twitter.example/s/{pid}",
    }
    if root is not None:
        doc["parent_id"] = doc["root_id"] = root
    return orjson.dumps(doc)


# Malformed: not JSON, a negative follower count, a repost naming no parent.
BAD = [b"{not json", _mention("bad", "post", "x", 0, -1), _mention("bad2", "repost", "", 0, 1)]


class Replayer(threading.Thread):
    """Sends a workload at a steady rate from its own thread (and event loop), so the
    caller can kill and restart things meanwhile. Idempotent and acks=all: the input
    itself is never lost or doubled by a broker failure. ``sent_at[i]``: when message
    ``i`` was handed to the producer (epoch seconds)."""

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        messages: list[tuple[bytes, bytes]],
        rate: float,
        partitions: list[int] | None = None,
    ) -> None:
        super().__init__(daemon=True)
        self.bootstrap, self.topic, self.messages, self.rate = bootstrap, topic, messages, rate
        self.partitions = partitions or []
        self.sent = 0
        self.sent_at: list[float] = []
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
                self.sent_at.append(time.time())
                partition = self.partitions[i] if self.partitions else None
                pending.append(await p.send(self.topic, value, key=key, partition=partition))
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
