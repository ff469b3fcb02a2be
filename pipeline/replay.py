"""Replay a file of real mentions and judge the escalations it makes.

``flashpoint replay FILE.jsonl --watchlist W`` runs a real worker on a real broker over
the file (or, with ``--offline``, the worker's own flow functions in this process over
dicts: the same decisions, seconds instead of minutes) and writes a report an ops team
can check: escalations per brand and severity, whether a brand's own accounts leaked
into reach, participants, pile-ons or customer histories (each must be 0), pile-on
spans against their window, the share of customer posts escalated, and a sample of
escalated and of quiet conversations to read.

:func:`report` is plain code over the file's mentions and the published events, so a
test can hold it to account without a broker.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from pipeline import flow
from pipeline.brands import Watchlist
from pipeline.escalation import Policies, Policy
from pipeline.escalation.desk import Desk
from pipeline.flow import Classifier, Incoming
from pipeline.reach import CascadeTracker, Forecaster
from pipeline.settings import Settings

SAMPLE = 30
LEVEL_ORDER = ("info", "warning", "error", "critical")


def read_lines(path: Path) -> list[bytes]:
    """The file's messages, one per non-blank line, as bytes (a bad line is the
    worker's business: it dead-letters it)."""
    with open(path, "rb") as fh:
        return [line.strip() for line in fh if line.strip()]


def offline(lines: Sequence[bytes], watchlist: Watchlist, model: Classifier, s: Settings) -> list[dict[str, Any]]:
    """The escalations a worker publishes for ``lines``, made by its flow functions in
    this process (one partition, in file order)."""
    policy = Policies.build(Policy.from_settings(s), watchlist.policy_tables(), str(s.watchlist))
    forecaster = Forecaster.load(s.reach_model)
    tracker = CascadeTracker({}, {}, {}, max_pending=s.max_pending_per_cascade)
    desk = Desk({}, {}, {}, policies=policy, source=f"urn:flashpoint:{s.app_id}")
    now = datetime.now(UTC)
    events: list[dict[str, Any]] = []
    for start in range(0, len(lines), 64):
        batch = [Incoming(v, None, s.topic_mentions, 0, start + i) for i, v in enumerate(lines[start : start + 64])]
        for cm in flow.ingest(batch, watchlist, model, now).forward:
            for sig in flow.track(cm, tracker, policy, now, "urn:flashpoint:replay", forecaster):
                events += flow.desk(sig, desk, 0, now).events
    return events


@dataclass(frozen=True)
class _Post:
    key: str
    cascade: str
    author_id: str
    handle: str
    followers: int
    text: str
    at: str
    url: str | None
    brand_account: bool


def _own_handles(watchlist: Watchlist) -> Callable[[str], bool]:
    """Whether a handle is one of the watched brands' own accounts."""
    own = {h.lstrip("@").lower() for b in watchlist.brands for h in b.handles}
    return lambda handle: handle.lstrip("@").lower() in own


def _posts(lines: Iterable[bytes], is_brand: Callable[[str], bool]) -> list[_Post]:
    out = []
    for raw in lines:
        try:
            d = orjson.loads(raw)
            platform, ident = d["platform"], d["id"]
            root = d.get("root_id") or d.get("parent_id") or ident
            a = d["author"]
            out.append(
                _Post(
                    key=f"{platform}:{ident}",
                    cascade=f"{platform}:{root}",
                    author_id=str(a["id"]),
                    handle=str(a["handle"]),
                    followers=int(a["followers"]),
                    text=str(d["text"]),
                    at=str(d["created_at"]),
                    url=d.get("url"),
                    brand_account=is_brand(str(a["handle"])),
                )
            )
        except (ValueError, KeyError, TypeError):
            continue  # malformed: the worker dead-letters it; nothing to judge here
    return out


def latest(events: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each escalation (dedup key) as it stands after its last open, upgrade or reopen."""
    out: dict[str, dict[str, Any]] = {}
    for e in events:
        d = e["data"]
        if d["action"] in ("open", "upgrade", "reopen"):
            out[d["dedup_key"]] = d
    return out


def report(
    lines: Sequence[bytes], events: Sequence[dict[str, Any]], watchlist: Watchlist, seed: int = 0
) -> dict[str, Any]:
    """What an ops team would want to know of a replay's escalations (see the module
    docstring). The ``leaks`` counts must all be 0."""
    is_brand = _own_handles(watchlist)
    posts = _posts(lines, is_brand)
    by_url = {p.url: p for p in posts if p.url}
    by_key = {p.key: p for p in posts}
    conversations: dict[str, list[_Post]] = defaultdict(list)
    for p in posts:
        conversations[p.cascade].append(p)

    escalations = latest(events)
    severity = Counter(d["severity"] for d in escalations.values())
    kinds = Counter(d.get("kind", "cascade") for d in escalations.values())
    per_brand: dict[str, Counter[str]] = defaultdict(Counter)
    for d in escalations.values():
        per_brand[d["brand"]][d["severity"]] += 1

    leaks = Counter[str]()
    spans = []
    for d in escalations.values():
        kind = d.get("kind", "cascade")
        post = d.get("complaint_post") or d["root_post"]
        if is_brand(post["author_handle"]):
            leaks["complaint_post_by_brand"] += 1
        if kind == "cascade":
            # The customers the conversation had when the escalation was decided.
            until = _ts(d["last_event_at"] or d["root_post"]["created_at"])
            customers = {
                p.author_id: p.followers
                for p in conversations.get(d["cascade"], [])
                if not p.brand_account and _ts(p.at) <= until
            }
            if d["participants"] > len(customers):
                leaks["participants_include_brand"] += 1
            if d["reach"]["potential"] > sum(customers.values()):
                leaks["reach_includes_brand"] += 1
        else:
            listed = d["pile_on"]["complaints"]
            if any(is_brand(c["author_handle"]) for c in listed):
                leaks["pile_on_member_is_brand"] += 1
            times = [_ts(c["at"]) for c in listed]
            span = max(times) - min(times) if times else 0.0
            spans.append(span)
            if span > d["pile_on"]["window_seconds"]:
                leaks["pile_on_span_over_window"] += 1
        h = d.get("customer_history")
        if h:
            owner = post["author_handle"].lower()
            authors = {(by_url.get(link) or by_key.get(link)) for link in h["links"]}
            if is_brand(owner) or any(a is None or a.handle.lower() != owner for a in authors):
                leaks["history_not_the_customers"] += 1
    for name in (
        "complaint_post_by_brand",
        "participants_include_brand",
        "reach_includes_brand",
        "pile_on_member_is_brand",
        "pile_on_span_over_window",
        "history_not_the_customers",
    ):
        leaks.setdefault(name, 0)

    escalated_cascades = {d["cascade"] for d in escalations.values() if d.get("cascade")}
    piles = [d["pile_on"]["complaints"] for d in escalations.values() if d.get("kind") == "pile_on"]
    piled_posts = {c.get("post_key") for listed in piles for c in listed}
    customer_posts = [p for p in posts if not p.brand_account]
    escalated_posts = [p for p in customer_posts if p.cascade in escalated_cascades or p.key in piled_posts]
    customer_conversations = {c for c, ps in conversations.items() if any(not p.brand_account for p in ps)}
    escalated_conversations = escalated_cascades & customer_conversations

    rng = random.Random(seed)
    keys = sorted(escalations)
    picked = rng.sample(keys, min(SAMPLE, len(keys)))
    quiet = sorted(customer_conversations - escalated_cascades)
    quiet_picked = rng.sample(quiet, min(SAMPLE, len(quiet)))
    return {
        "mentions": len(posts),
        "customer_posts": len(customer_posts),
        "brand_account_posts": len(posts) - len(customer_posts),
        "conversations": len(customer_conversations),
        "events": len(events),
        "escalations": len(escalations),
        "by_kind": dict(kinds),
        "by_severity": {k: severity[k] for k in LEVEL_ORDER},
        "by_brand": {b: dict(c) for b, c in sorted(per_brand.items(), key=lambda x: -sum(x[1].values()))},
        "leaks": dict(leaks),
        "pile_on_spans_seconds": sorted(round(s) for s in spans),
        "customer_posts_escalated": _share(len(escalated_posts), len(customer_posts)),
        "conversations_escalated": _share(len(escalated_conversations), len(customer_conversations)),
        "sample": [_describe(escalations[k]) for k in picked],
        "quiet_sample": [
            {
                "cascade": c,
                "posts": [
                    f"{'[brand] ' if p.brand_account else ''}@{p.handle}: {p.text}"
                    for p in sorted(conversations[c], key=lambda p: p.at)[:4]
                ],
            }
            for c in quiet_picked
        ],
    }


def _share(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def _ts(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def _describe(d: dict[str, Any]) -> dict[str, Any]:
    post = d.get("complaint_post") or d["root_post"]
    return {
        "dedup_key": d["dedup_key"],
        "kind": d.get("kind", "cascade"),
        "severity": d["severity"],
        "brand": d["brand"],
        "text": post["text"],
        "author": post["author_handle"],
        "probability": d["complaint_probability"],
        "reasons": d["reasons"],
    }


def summary(r: dict[str, Any]) -> str:
    """The report's figures as a few lines of text (the sample stays in the JSON)."""
    lines = [
        f"mentions {r['mentions']} ({r['customer_posts']} from customers, "
        f"{r['brand_account_posts']} from brand accounts), {r['conversations']} customer conversations",
        f"escalations {r['escalations']} ({', '.join(f'{k} {v}' for k, v in r['by_kind'].items())}) "
        f"from {r['events']} events; severity {r['by_severity']}",
        f"customer posts escalated {r['customer_posts_escalated']:.1%}, "
        f"conversations {r['conversations_escalated']:.1%}",
        "brand accounts and spans (each must be 0): " + ", ".join(f"{k} {v}" for k, v in r["leaks"].items()),
    ]
    if r["pile_on_spans_seconds"]:
        lines.append(f"pile-on spans (s): {r['pile_on_spans_seconds']}")
    return "\n".join(lines)
