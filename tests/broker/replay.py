"""The fault suite's yardstick. The workload itself is :mod:`pipeline.loadgen`.

:func:`expected` is what a run without faults makes of it: the same flow functions the
worker calls (ingest, track, desk), in process, over plain dicts, with the real model's
verdicts. :func:`compare` holds what a real run published against that.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from pipeline import flow
from pipeline.brands import Watchlist
from pipeline.classification.verdict import Verdict
from pipeline.escalation import Policies, Policy
from pipeline.escalation.desk import Desk
from pipeline.flow import Incoming
from pipeline.loadgen import Workload
from pipeline.reach import CascadeTracker, Forecaster
from pipeline.reach.cascade import RESPONSE_COMPLAINT_PROBABILITY
from pipeline.settings import Settings


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


# The same probability where the event quotes it: in its posts and its reasons.
POSTS = ("root_post", "complaint_post")
PERCENT = re.compile(r"probability \d+%")


def figures(event: dict[str, Any]) -> dict[str, Any]:
    data = {k: v for k, v in event["data"].items() if k not in VOLATILE}
    for name in POSTS:
        if isinstance(data.get(name), dict):
            data[name] = {k: v for k, v in data[name].items() if k != "probability"}
    if "reasons" in data:
        data["reasons"] = [PERCENT.sub("probability N%", r) for r in data["reasons"]]
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


def write_report(name: str, report: dict[str, Any], directory: Path | None) -> None:
    """One JSON file per scenario, for docs/reliability.md (FLASHPOINT_FAULT_REPORTS)."""
    print(f"\nFAULT REPORT {name}: {orjson.dumps(report).decode()}")
    if directory is not None:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / f"{name}.json").write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
