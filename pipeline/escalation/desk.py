"""The escalation desk: what happens to escalations after the cascade stage decides
them. It holds per-brand state, so it runs on a topic keyed by brand.

- **Customer history.** Every complaint post about a brand (roots and complaining
  replies and quotes) is remembered per author: how many, first and last time, links.
  An author who complained about the brand in an earlier cascade raises the new
  cascade's severity one level, and the event shows the history.
- **Pile-ons.** Distinct customers complaining about one brand within a sliding window
  (3, 6, 12 and 25 authors in 30 minutes by default: info to critical) make a
  brand-level escalation (``kind: pile_on``) that lists the cascades and upgrades as
  more join. It is one episode until the window empties.
- **Lifecycle.** Each escalation (dedup key) is ``open``, then ``acknowledged``,
  ``resolved`` or ``false_positive`` as ops say on the feedback topic. An open one
  that nobody acknowledged is re-sent as ``reminder`` after its severity's SLA. A
  resolved one whose cascade climbs past the severity it was resolved at re-opens. A
  false positive is silenced for good and becomes a labelled example for training.

Plain code over dict-like stores (Faust tables in the worker, dicts in tests): no
Kafka here.
"""

from __future__ import annotations

import copy
import math
from collections import Counter
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pipeline.classification.topics import OTHER
from pipeline.escalation.events import SCHEMA_VERSION, envelope
from pipeline.escalation.policy import LEVELS, Policies, Policy
from pipeline.records import BrandSignal, Correction, Feedback

HISTORY_LINKS = 5
HISTORY_CASCADES = 20
# Complaint posts remembered per customer to recognise one heard again (a replay
# only ever goes back to the last committed offset: minutes, not months).
HISTORY_POSTS = 50
PILE_ON_LISTED = 25


@dataclass
class Outcome:
    events: list[dict[str, Any]] = field(default_factory=list)
    corrections: list[Correction] = field(default_factory=list)
    # Feedback that names no escalation the desk knows: goes to the dead-letter topic.
    rejected: str | None = None


class Desk:
    def __init__(
        self,
        lifecycle: MutableMapping[str, Any],
        history: MutableMapping[str, Any],
        pile_ons: MutableMapping[str, Any],
        policies: Policies | Policy,
        source: str,
    ) -> None:
        self.lifecycle = lifecycle
        self.history = history
        self.pile_ons = pile_ons
        self.policies = policies
        self.source = source

    def policy(self, brand: str) -> Policy:
        return self.policies.of(brand)

    def handle(self, signal: BrandSignal, partition: int, now: datetime) -> Outcome:
        if signal.kind == "complaint":
            return self._complaint(signal, partition, now)
        if signal.kind == "decision":
            return self._decision(signal, partition, now)
        if signal.kind == "feedback":
            return self._feedback(signal, now)
        return self._tick(partition, now)

    # -- customer history and pile-ons ------------------------------------------------

    def _complaint(self, signal: BrandSignal, partition: int, now: datetime) -> Outcome:
        c = signal.complaint
        assert c is not None
        if not c.get("own", c.get("root", True)):
            # Joining someone else's conversation: a pile-on member, not a history of
            # the author's own (their complaint there is the other customer's case).
            return self._pile_on(signal, partition, now)
        key = f"{signal.brand}|{c['author_id']}"
        h = self.history.get(key) or {"count": 0, "first_at": c["at"], "last_at": c["at"], "links": [], "cascades": []}
        if c["post_key"] in h.get("posts", ()):
            # Heard before: the desk's input is at least once. Faust-streaming 0.15.3 can
            # commit a desk event's table writes without its offset (seen after SIGKILL
            # in the fault suite), so a replay must change nothing.
            return Outcome()
        h = dict(h)  # every field below is replaced, not changed in place
        h["posts"] = [*h.get("posts", ()), c["post_key"]][-HISTORY_POSTS:]
        h["count"] += 1
        h["first_at"] = min(h["first_at"], c["at"])
        h["last_at"] = max(h["last_at"], c["at"])
        link = c.get("url") or c["post_key"]
        h["links"] = (h["links"] + [link])[-HISTORY_LINKS:]
        # Each conversation with the time of the author's first complaint in it.
        if c["cascade_key"] not in {k for k, _ in h["cascades"]}:
            h["cascades"] = (h["cascades"] + [[c["cascade_key"], c["at"]]])[-HISTORY_CASCADES:]
        self.history[key] = h
        out = Outcome(events=self._late_history(signal.brand, c, h, partition, now))
        out.events += self._pile_on(signal, partition, now).events
        return out

    def _late_history(
        self, brand: str, c: dict[str, Any], h: dict[str, Any], partition: int, now: datetime
    ) -> list[dict[str, Any]]:
        """A complaint can reach the desk after a later one from the same author (it
        came through another partition): raise the later conversations it makes
        repeat complaints, as their decision would have."""
        need = self.policy(brand).repeat_complainer_cascades
        events = []
        for cascade, began in h["cascades"]:
            if cascade == c["cascade_key"] or began <= c["at"] or not need:
                continue
            key = f"{brand}/{cascade}"
            state = self.lifecycle.get(key)
            if not state or state.get("history_raised") or state["status"] in ("resolved", "false_positive"):
                continue
            if state.get("author_id") not in (None, c["author_id"]):
                continue  # another customer's conversation: this history is not theirs
            earlier = _earlier(h, cascade, began)
            level = LEVELS.index(state["severity"])
            if len(earlier) < need or level >= 3:
                continue
            data = copy.deepcopy(state["data"])
            data["severity"] = LEVELS[level + 1]
            data["customer_history"] = _history_view(h)
            data["reasons"] = [*data["reasons"], _repeat_reason(data, brand, len(earlier), h)]
            events.append(self._publish(key, data, "upgrade", partition, now))
            self.lifecycle[key] = {**self.lifecycle[key], "history_raised": True}
        return events

    def _pile_on(self, signal: BrandSignal, partition: int, now: datetime) -> Outcome:
        """Distinct customers complaining about the brand within a window of *event*
        time (the posts' own times): a complaint older than the newest seen by more
        than the allowed lateness is too late to join (it still counts towards the
        brand's usual rate). How many customers make a pile-on is relative to that
        rate over the last days, with the policy's counts as a floor."""
        c = signal.complaint
        assert c is not None
        policy = self.policy(signal.brand)
        at = _ts(c["at"])
        # A shallow copy: the complaints in the window are never changed, only dropped
        # (a deep copy of a busy brand's window cost more than everything else here).
        p = dict(self.pile_ons.get(signal.brand) or {"episode": None, "level": -1, "complaints": []})
        watermark = max(p.get("watermark", at), at)
        p["watermark"] = watermark
        p["rate"] = _count(p.get("rate"), at, watermark, policy.pile_on_baseline_days)
        out = Outcome()
        if at < watermark - policy.pile_on_lateness_seconds:
            self.pile_ons[signal.brand] = p
            return out
        start = watermark - policy.pile_on_window_seconds
        p["complaints"] = [x for x in p["complaints"] if x["ts"] > start]
        if not p["complaints"]:
            p["episode"], p["level"] = None, -1  # the last episode has ended
        p["complaints"].append({**c, "ts": at})
        authors: dict[str, dict[str, Any]] = {}
        for x in sorted(p["complaints"], key=lambda x: x["ts"]):
            authors.setdefault(x["author_id"], x)
        usual = _usual(p["rate"], len(p["complaints"]), watermark, policy)
        needed = _needed(policy, usual)
        level = -1
        for i, n in enumerate(needed):
            if len(authors) >= n:
                level = i
        if p["episode"] is not None and len(authors) * 2 < needed[0]:
            # Subsided to under half of what makes one: what comes next is a new episode
            # (a busy brand's window never empties).
            p["episode"], p["level"] = None, -1
        if level > p["level"]:
            if p["episode"] is None:
                p["episode"] = int(min(x["ts"] for x in p["complaints"]))
            key = f"{signal.brand}/pile-on/{p['episode']}"
            state = self.lifecycle.get(key)
            action = "open" if state is None else ("reopen" if state["status"] == "resolved" else "upgrade")
            if state is None or state["status"] != "false_positive":
                data = _pile_on_data(signal.brand, key, list(authors.values()), policy, LEVELS[level], usual, needed)
                _keep_owner(data, state)
                out.events.append(self._publish(key, data, action, partition, now))
            p["level"] = level
        # Bounded: only the window is kept, and at most a few hundred complaints of it.
        p["complaints"] = p["complaints"][-500:]
        self.pile_ons[signal.brand] = p
        return out

    # -- cascade escalations ----------------------------------------------------------

    def _decision(self, signal: BrandSignal, partition: int, now: datetime) -> Outcome:
        draft = copy.deepcopy(signal.draft)
        assert draft is not None
        data = draft["data"]
        key = data["dedup_key"]
        policy = self.policy(signal.brand)
        level = LEVELS.index(data["severity"])
        h = self.history.get(f"{signal.brand}|{signal.author_id}")
        data["customer_history"] = _history_view(h)
        earlier = _earlier(h, data["cascade"], data["root_post"]["created_at"])
        raised = bool(policy.repeat_complainer_cascades and len(earlier) >= policy.repeat_complainer_cascades)
        if raised and level < 3:
            level += 1
            data["reasons"].append(_repeat_reason(data, signal.brand, len(earlier), h))
        data["severity"] = LEVELS[level]
        state = self.lifecycle.get(key)
        if state is None:
            action = "open"
        elif state["status"] == "false_positive":
            return Outcome()  # ops said it is not a complaint: silence, for good
        elif level <= LEVELS.index(state["severity"]):
            return Outcome()  # nothing new for the team (the history may already have raised it)
        elif state["status"] == "resolved":
            action = "reopen"
            data["reasons"].append(f"It was resolved at {state['severity']} and has grown since.")
        else:
            action = "upgrade"
        _keep_owner(data, state)
        event = self._publish(key, data, action, partition, now)
        self.lifecycle[key] = {
            **self.lifecycle[key],
            "author_id": signal.author_id,
            "history_raised": raised or bool((state or {}).get("history_raised")),
        }
        return Outcome(events=[event])

    # -- feedback and reminders -------------------------------------------------------

    def _feedback(self, signal: BrandSignal, now: datetime) -> Outcome:
        fb = Feedback.from_dict(signal.feedback or {})
        state = self.lifecycle.get(fb.dedup_key)
        if state is None:
            return Outcome(rejected=f"feedback for an escalation this desk does not know: {fb.dedup_key!r}")
        state = copy.deepcopy(state)
        status = {"acknowledge": "acknowledged", "resolve": "resolved", "false_positive": "false_positive"}[fb.action]
        if state["status"] == status or state["status"] == "false_positive":
            return Outcome()  # said twice, or after the escalation was closed for good
        state["status"] = status
        data = copy.deepcopy(state["data"])
        data["feedback"] = {"action": fb.action, "by": fb.by, "note": fb.note, "at": fb.at}
        data["reasons"] = data["reasons"] + [
            f"{fb.by} marked it {status.replace('_', ' ')}" + (f": {fb.note}" if fb.note else ".")
        ]
        out = Outcome(events=[self._emit(fb.dedup_key, data, fb.action, state, now)])
        if fb.action == "false_positive" and state.get("author_id"):
            self._forget(data["brand"], state["author_id"], data["cascade"])
        if fb.action == "false_positive" and data.get("kind", "cascade") == "cascade":
            root = data["root_post"]
            out.corrections.append(
                Correction(
                    text=root["text"],
                    label=0,
                    platform=root["platform"],
                    post_id=root["id"],
                    brand=data["brand"],
                    dedup_key=fb.dedup_key,
                    complaint_probability=data["complaint_probability"],
                    model_version=data.get("model_version"),
                    reported_by=fb.by,
                    note=fb.note,
                    at=fb.at or now.isoformat(),
                )
            )
        self.lifecycle[fb.dedup_key] = state
        return out

    def _forget(self, brand: str, author_id: str, cascade: str | None) -> None:
        """A false positive is not a complaint: it leaves the author's history."""
        key = f"{brand}|{author_id}"
        h = self.history.get(key)
        if not h or cascade not in {k for k, _ in h["cascades"]}:
            return
        h = copy.deepcopy(h)
        h["cascades"] = [[k, at] for k, at in h["cascades"] if k != cascade]
        h["count"] -= 1
        if h["count"] <= 0 or not h["cascades"]:
            del self.history[key]
        else:
            self.history[key] = h

    def _tick(self, partition: int, now: datetime) -> Outcome:
        out = Outcome()
        t = now.timestamp()
        for key, raw in list(self.lifecycle.items()):
            if not raw or raw.get("partition") != partition or raw["status"] != "open":
                continue
            sla = self.policy(raw["data"]["brand"]).reminder_seconds[LEVELS.index(raw["severity"])]
            if sla <= 0 or t - raw["last_sent_at"] < sla:
                continue
            state = copy.deepcopy(raw)
            data = copy.deepcopy(state["data"])
            waited = int((t - state["opened_at"]) // 60)
            data["reasons"] = data["reasons"] + [
                f"Reminder {state['reminders'] + 1}: open for {waited} minutes and not acknowledged "
                f"({raw['severity']} SLA {int(sla // 60)} minutes)."
            ]
            state["reminders"] += 1
            out.events.append(self._emit(key, data, "reminder", state, now))
            self.lifecycle[key] = state
        return out

    # -- publishing -------------------------------------------------------------------

    def _publish(self, key: str, data: dict[str, Any], action: str, partition: int, now: datetime) -> dict[str, Any]:
        """An ``open``, ``upgrade`` or ``reopen``: the escalation's new severity."""
        state = copy.deepcopy(self.lifecycle.get(key)) or {
            "status": "open",
            "opened_at": now.timestamp(),
            "reminders": 0,
            "sent": 0,
            "partition": partition,
        }
        state["status"] = "open"
        state["severity"] = data["severity"]
        event = self._emit(key, data, action, state, now)
        self.lifecycle[key] = state
        return event

    def _emit(
        self, key: str, data: dict[str, Any], action: str, state: dict[str, Any], now: datetime
    ) -> dict[str, Any]:
        data = {**data, "action": action, "status": state["status"], "escalated_at": now.isoformat()}
        data.setdefault("kind", "cascade")
        state["sent"] += 1
        state["last_sent_at"] = now.timestamp()
        state["data"] = {k: v for k, v in data.items() if k not in ("action", "feedback")}
        # open/upgrade ids depend on the severity only, as before the desk existed; the
        # other actions are numbered, so a replay after a crash yields the same ids.
        ident = f"{key}:{data['severity']}" if action in ("open", "upgrade") else f"{key}:{action}:{state['sent']}"
        return envelope(key, ident, data, source=self.source, now=now)


def _earlier(h: dict[str, Any] | None, cascade: str, began: str) -> list[str]:
    """The author's other conversations that began before ``began``. Only those make
    a repeat complaint: the desk may hear of a later one first, when it comes through
    another partition."""
    return [k for k, at in (h or {}).get("cascades", []) if k != cascade and at < began]


def _repeat_reason(data: dict[str, Any], brand: str, earlier: int, h: dict[str, Any] | None) -> str:
    return (
        f"@{data['root_post']['author_handle']} has complained about {brand} before: "
        f"{earlier} earlier conversation(s), {h['count'] - 1 if h else 0} earlier post(s), "
        f"first {h['first_at'] if h else '?'}."
    )


def _history_view(h: dict[str, Any] | None) -> dict[str, Any] | None:
    if not h:
        return None
    return {
        "complaints": h["count"],
        "conversations": len(h["cascades"]),
        "first_at": h["first_at"],
        "last_at": h["last_at"],
        "links": list(h["links"]),
    }


HOUR = 3600.0
# The usual rate is taken over at least this long: one busy hour is not yet a habit.
BASELINE_MIN_HOURS = 2.0


def _count(rate: list[list[float]] | None, at: float, watermark: float, days: float) -> list[list[float]]:
    """The brand's complaints per hour of event time, [[hour start, count], ...], for
    the last ``days`` before the watermark (at most 24 * days entries)."""
    hour = at // HOUR * HOUR
    keep = watermark - days * 86_400
    counts = {h: n for h, n in (rate or []) if h >= keep}
    if hour >= keep:
        counts[hour] = counts.get(hour, 0) + 1
    return [[h, counts[h]] for h in sorted(counts)]


def _usual(rate: list[list[float]], in_window: int, now: float, policy: Policy) -> float:
    """The brand's usual number of complaints per pile-on window: its complaints of the
    last days before this window, spread over the time they cover (at least
    BASELINE_MIN_HOURS, so one busy hour is not yet a habit). A steadily busy brand
    stays under its own rate; a sudden surge passes it; a brand with no history has
    only the floor."""
    past = sum(n for _, n in rate) - in_window
    if past <= 0:
        return 0.0
    hours = max((now - rate[0][0]) / HOUR, BASELINE_MIN_HOURS)
    return past / hours * (policy.pile_on_window_seconds / HOUR)


def _needed(policy: Policy, usual: float) -> tuple[int, ...]:
    """Customers needed for each level: the policy's counts, or that many times the
    brand's usual complaints per window over the first count, whichever is more."""
    floor = policy.pile_on_authors
    scale = policy.pile_on_baseline_factor * usual / max(floor[0], 1)
    return tuple(max(n, math.ceil(n * scale)) for n in floor)


def _keep_owner(data: dict[str, Any], state: dict[str, Any] | None) -> None:
    """An escalation stays with the team it opened with: its later events (an upgrade,
    a reopen) keep its first topic and team even where a stronger complaint has
    another, so an incident never jumps desks (nor, in Alertmanager, label sets)."""
    before = (state or {}).get("data") or {}
    if "topic" in before:
        data["topic"], data["team"] = before["topic"], before.get("team")


def _topic_of(authors: list[dict[str, Any]]) -> dict[str, Any]:
    """A pile-on's topic: the one most of its complaints are about (the earliest such
    complaint's on a tie), and its team."""
    counts = Counter(a.get("topic") or OTHER for a in authors)
    top = max(counts.values())
    first = next(a for a in sorted(authors, key=lambda x: x["ts"]) if counts[a.get("topic") or OTHER] == top)
    return {"topic": first.get("topic") or OTHER, "team": first.get("team")}


def _pile_on_data(
    brand: str,
    key: str,
    authors: list[dict[str, Any]],
    policy: Policy,
    severity: str,
    usual: float = 0.0,
    needed: tuple[int, ...] = (),
) -> dict[str, Any]:
    """A brand-level escalation: the first complaint of the window stands as its
    ``root_post`` so every consumer of v1 can show it; ``pile_on`` lists them all."""
    first = min(authors, key=lambda x: x["ts"])
    minutes = int(policy.pile_on_window_seconds // 60)
    handles = ", ".join(f"@{a['author_handle']}" for a in authors[:5]) + (
        f" and {len(authors) - 5} more" if len(authors) > 5 else ""
    )
    cascades = {a["cascade_key"] for a in authors}
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": "pile_on",
        "dedup_key": key,
        "severity": severity,
        "brand": brand,
        "addressed": any(a["addressed"] for a in authors),
        "matched": [],
        **_topic_of(authors),
        "root_post": {
            "id": first["post_key"].split(":", 1)[-1],
            "platform": first["post_key"].split(":", 1)[0],
            "url": first.get("url"),
            "text": first.get("text", ""),
            "author_handle": first["author_handle"],
            "author_followers": first["author_followers"],
            "author_verified": False,
            "created_at": first["at"],
        },
        "cascade": None,
        "complaint_probability": round(max(a["probability"] for a in authors), 4),
        "complaint_severity": None,
        "reach": {
            "potential": sum(a["author_followers"] for a in authors),
            "root_author_followers": first["author_followers"],
            "reposts": 0,
            "replies": 0,
            "quotes": 0,
            "depth": 0,
            "potential_per_hour": None,
        },
        "forecast": None,
        "participants": len(authors),
        "complaining_responses": 0,
        "reasons": [
            f"{len(authors)} different customers complained about {brand} within {minutes} minutes "
            f"({handles}) across {len(cascades)} conversation(s).",
            (
                f"That is {len(authors) / usual:.1f} times {brand}'s usual {usual:.1f} complaints "
                f"per {minutes} minutes over the last {policy.pile_on_baseline_days:g} days"
                if usual > 0
                else f"{brand} had no complaints in the last {policy.pile_on_baseline_days:g} days to compare with"
            )
            + ": several customers at once point to a product or service problem, not one unhappy customer.",
        ],
        "pile_on": {
            "authors": len(authors),
            "window_seconds": policy.pile_on_window_seconds,
            "usual_per_window": round(usual, 2),
            "needed": list(needed),
            "complaints": [
                {
                    "cascade": a["cascade_key"],
                    "author_handle": a["author_handle"],
                    "author_followers": a["author_followers"],
                    "url": a.get("url"),
                    "at": a["at"],
                }
                for a in sorted(authors, key=lambda x: x["ts"])[:PILE_ON_LISTED]
            ],
        },
        "customer_history": None,
        "model_version": None,
        "first_event_at": first["at"],
        "last_event_at": max(a["at"] for a in authors),
    }


def _ts(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()
