"""A scripted hour of brand mentions, written for the demo.

Four brands; complaints, praise and questions; quiet cascades and viral ones; a pile-on
of customers with the same broken widget; an influencer's complaint; a repost that
arrives before its root; a redelivered message; and some broken messages for the
dead-letter topic. Follower counts are drawn from a seeded heavy-tailed distribution,
so every run tells the same story.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson


@dataclass(frozen=True)
class Scheduled:
    at: float  # seconds into the story
    value: bytes
    note: str = ""


class _Story:
    def __init__(self, start: datetime, seed: int) -> None:
        self.start = start
        self.rng = random.Random(seed)
        self.items: list[Scheduled] = []
        self._n = 0

    def _id(self) -> str:
        self._n += 1
        return str(1_862_000 + self._n)

    def followers(self, scale: float = 1.0) -> int:
        # Pareto tail: most people have a few hundred followers, a few have very many.
        return int(min(2_000_000, 80 * scale * self.rng.paretovariate(1.3)))

    def post(
        self,
        at: float,
        text: str,
        handle: str,
        followers: int,
        *,
        kind: str = "post",
        parent: str | None = None,
        root: str | None = None,
        verified: bool = False,
        reply_to: str | None = None,
        post_id: str | None = None,
        note: str = "",
    ) -> str:
        pid = post_id or self._id()
        doc: dict[str, Any] = {
            "id": pid,
            "platform": "twitter",
            "kind": kind,
            "text": text,
            "created_at": (self.start + timedelta(seconds=at)).isoformat().replace("+00:00", "Z"),
            "author": {"id": f"u-{handle.lower()}", "handle": handle, "followers": followers, "verified": verified},
            "lang": "en",
            "url": f"https://twitter.example/{handle}/status/{pid}",
        }
        if parent:
            doc["parent_id"] = parent
        if root:
            doc["root_id"] = root
        if reply_to:
            doc["in_reply_to_handle"] = reply_to
        self.items.append(Scheduled(at, orjson.dumps(doc), note))
        return pid

    def raw(self, at: float, value: bytes, note: str) -> None:
        self.items.append(Scheduled(at, value, note))


def script(start: datetime, seed: int = 7) -> list[Scheduled]:
    """Every message of the demo, in story order (seconds from ``start``)."""
    s = _Story(start, seed)
    people = [
        f"{a}{b}"
        for a in (
            "sam",
            "kim",
            "lee",
            "jo",
            "max",
            "ana",
            "raj",
            "mei",
            "tom",
            "zoe",
            "ola",
            "eli",
            "bo",
            "ivy",
            "kai",
            "noa",
        )
        for b in ("_k", "22", "_uk", "x", "fan", "_nyc", "77", "_de")
    ]
    s.rng.shuffle(people)
    who = iter(people)

    # 1. The complaint that goes viral: addressed to Acme, reposted, then a pile-on.
    root = s.post(
        0,
        "@AcmeCustServ my widget has been broken for 5 days, disgusting! Nobody answers the phone.",
        "alice",
        1_200,
        note="complaint to Acme",
    )
    t = 30.0
    for i in range(70):
        t += s.rng.expovariate(1 / 25)
        big = i in (18, 41)
        s.post(
            t,
            "",
            next(who),
            250_000 if i == 18 else (900_000 if i == 41 else s.followers()),
            kind="repost",
            parent=root,
            root=root,
            verified=big,
        )
    for at, text in [
        (300, "So's mine, I'm on my third #Acme widget this year. Useless."),
        (520, "@AcmeCustServ same here, it stopped charging after a week and support never replied"),
        (760, "Mine too! Acme widget died on day two and the refund has been 'processing' for a month"),
        (900, "@AcmeCustServ this is the third complaint I've seen today, sort it out"),
    ]:
        s.post(at, text, next(who), s.followers(), kind="reply", parent=root, root=root, reply_to="alice")
    s.post(
        1_100,
        "Acme really needs to answer this. Broken widgets everywhere. #AcmeWidget",
        next(who),
        15_000,
        kind="quote",
        parent=root,
        root=root,
    )

    # 2. Praise for Northwind Air that spreads: not a complaint, never escalates.
    praise = s.post(
        60,
        "Huge thanks to the @NorthwindAir crew who found my daughter's teddy bear and sent it home. Amazing service!",
        "grateful_dad",
        3_400,
    )
    for i in range(30):
        s.post(90 + i * 40, "", next(who), s.followers(), kind="repost", parent=praise, root=praise)

    # 3. A question: addressed, calm, stays quiet.
    q = s.post(120, "@GlobexCares what time does the Main St store open on Sunday?", "ben_t", 210)
    s.post(400, "@ben_t 10am on Sundays!", "GlobexCares", 48_000, kind="reply", parent=q, root=q, reply_to="ben_t")

    # 4. A quiet complaint only *about* a brand: small reach, no escalation.
    quiet = s.post(200, "#UmbrellaBank app down again, can't log in to pay rent", "carla_m", 340)
    s.post(260, "", next(who), 150, kind="repost", parent=quiet, root=quiet)

    # 5. An influencer complains: escalates on the author alone.
    flight = s.post(
        600,
        "@NorthwindAir cancelled my flight with two hours' notice and lost my luggage. Worst airline I've flown.",
        "travel_with_tess",
        184_000,
        verified=True,
    )
    for i in range(12):
        s.post(640 + i * 30, "", next(who), s.followers(), kind="repost", parent=flight, root=flight)

    # 6. A post that names no watched brand: counted, goes no further.
    s.post(150, "Beautiful sunset over the bay tonight", "photo_pat", 5_100)

    # 7. Bad input for the dead-letter topic.
    s.raw(45, b"{not json at all", "invalid JSON")
    s.raw(
        46,
        orjson.dumps(
            {
                "id": "x1",
                "platform": "twitter",
                "kind": "repost",
                "text": "",
                "created_at": "2026-11-22T14:00:00Z",
                "author": {"id": "9", "handle": "h", "followers": 10},
            }
        ),
        "repost without parent_id",
    )
    s.raw(
        47,
        orjson.dumps(
            {
                "id": "x2",
                "platform": "twitter",
                "kind": "post",
                "text": "@Acme hi",
                "created_at": "yesterday",
                "author": {"id": "9", "handle": "h", "followers": -5},
            }
        ),
        "negative followers, bad time",
    )

    items = sorted(s.items, key=lambda m: m.at)
    # 8. The first repost of the viral cascade delivered before its root, and a redelivery.
    first_repost = next(i for i, m in enumerate(items) if b'"repost"' in m.value and root.encode() in m.value)
    moved = items.pop(first_repost)
    items.insert(0, Scheduled(0.0, moved.value, "repost before its root"))
    root_msg = next(m for m in items if b'"id":"' + root.encode() + b'"' in m.value)
    items.append(Scheduled(items[-1].at, root_msg.value, "redelivery of the root"))
    return items
