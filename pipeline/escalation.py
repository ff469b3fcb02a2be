"""Stage 5: decide when a cascade is worth a person's attention, and say why.

The policy maps a cascade to a severity in PagerDuty's words per brand. Severity only
ever rises: the first crossing publishes ``open``, each higher level ``upgrade``, so a
cascade yields at most one event per level. Events are CloudEvents 1.0 (structured JSON
mode) whose ``id`` is derived from (dedup key, severity): a consumer that sees the
same id twice may drop the second.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import orjson

from pipeline.classification.model import SEVERITY_LABELS
from pipeline.reach import CascadeState
from pipeline.records import BrandMatch
from pipeline.settings import Settings

LEVELS = ("info", "warning", "error", "critical")
EVENT_TYPE = "dev.flashpoint.escalation.v1"
SCHEMA_VERSION = 1
Action = Literal["open", "upgrade"]


@dataclass(frozen=True)
class Policy:
    min_complaint_probability: float = 0.6
    reach_thresholds: tuple[int, int, int, int] = (1_000, 20_000, 200_000, 1_000_000)
    about_reach_factor: float = 5.0
    influencer_followers: int = 100_000
    pile_on_replies: int = 3

    @classmethod
    def from_settings(cls, s: Settings) -> Policy:
        return cls(
            min_complaint_probability=s.min_complaint_probability,
            reach_thresholds=(s.reach_info, s.reach_warning, s.reach_error, s.reach_critical),
            about_reach_factor=s.about_reach_factor,
            influencer_followers=s.influencer_followers,
            pile_on_replies=s.pile_on_replies,
        )


@dataclass(frozen=True)
class Decision:
    brand: BrandMatch
    severity: str
    reasons: tuple[str, ...]


def decide(state: CascadeState, policy: Policy) -> list[Decision]:
    """The severity each brand's team should see now, or nothing for a cascade that is
    not (yet) a complaint worth escalating."""
    p = state.complaint_probability
    root = state.root
    if root is None or p is None or p < policy.min_complaint_probability:
        return []
    decisions = []
    for match in state.brands:
        factor = 1.0 if match.addressed else policy.about_reach_factor
        level = -1
        for i, threshold in enumerate(policy.reach_thresholds):
            if state.potential_reach >= threshold * factor:
                level = i
        how = "addressed to" if match.addressed else "about"
        reasons = [
            f"@{root.author_handle}'s post is a complaint {how} {match.brand} "
            f"(probability {p:.0%}; matched {', '.join(match.via)})."
        ]
        if level >= 0:
            reasons.append(
                f"Potential reach {state.potential_reach:,} people across {state.participants:,} "
                f"participant(s) passed the {LEVELS[level]} threshold of "
                f"{int(policy.reach_thresholds[level] * factor):,}"
                + ("" if match.addressed else " (raised for posts only about the brand)")
                + "."
            )
        if root.author_followers >= policy.influencer_followers and level < 1:
            level = 1
            reasons.append(
                f"The author has {root.author_followers:,} followers (influencer threshold "
                f"{policy.influencer_followers:,})."
            )
        if level >= 0 and state.complaining_responses >= policy.pile_on_replies and level < 3:
            level += 1
            reasons.append(f"{state.complaining_responses} replies or quotes are complaints too: a pile-on.")
        if level >= 0 and state.complaint_severity == 4 and match.addressed and level < 3:
            level += 1
            reasons.append("The complaint blames the brand outright (severity: blame).")
        if level >= 0:
            decisions.append(Decision(match, LEVELS[level], tuple(reasons)))
    return decisions


def transitions(state: CascadeState, decisions: list[Decision]) -> list[tuple[Decision, Action]]:
    """What to publish now; records it in ``state.escalated`` (the caller saves state)."""
    out: list[tuple[Decision, Action]] = []
    for d in decisions:
        previous = state.escalated.get(d.brand.brand)
        if previous is None:
            out.append((d, "open"))
        elif LEVELS.index(d.severity) > LEVELS.index(previous):
            out.append((d, "upgrade"))
        else:
            continue
        state.escalated[d.brand.brand] = d.severity
    return out


def dedup_key(brand: str, cascade_key: str) -> str:
    return f"{brand}/{cascade_key}"


def event(
    state: CascadeState,
    decision: Decision,
    action: Action,
    *,
    now: datetime,
    source: str,
) -> dict[str, Any]:
    """The CloudEvent for one transition."""
    root = state.root
    assert root is not None, "escalations are only decided for cascades whose root arrived"
    key = dedup_key(decision.brand.brand, state.key)
    hours = _hours_between(root.created_at, state.last_event_at or root.created_at)
    sev = state.complaint_severity
    data = {
        "schema_version": SCHEMA_VERSION,
        "dedup_key": key,
        "action": action,
        "severity": decision.severity,
        "brand": decision.brand.brand,
        "addressed": decision.brand.addressed,
        "matched": list(decision.brand.via),
        "root_post": {
            "id": root.id,
            "platform": root.platform,
            "url": root.url,
            "text": root.text,
            "author_handle": root.author_handle,
            "author_followers": root.author_followers,
            "author_verified": root.author_verified,
            "created_at": root.created_at,
        },
        "complaint_probability": round(state.complaint_probability or 0.0, 4),
        "complaint_severity": ({"level": sev, "label": SEVERITY_LABELS[sev - 1]} if sev and 1 <= sev <= 4 else None),
        "reach": {
            "potential": state.potential_reach,
            "root_author_followers": root.author_followers,
            "reposts": state.reposts,
            "replies": state.replies,
            "quotes": state.quotes,
            "depth": state.depth,
            "potential_per_hour": round(state.potential_reach / hours) if hours > 0 else None,
        },
        "participants": state.participants,
        "complaining_responses": state.complaining_responses,
        "reasons": list(decision.reasons),
        "model_version": state.model_version,
        "first_event_at": state.first_event_at,
        "last_event_at": state.last_event_at,
        "escalated_at": now.isoformat(),
    }
    return {
        "specversion": "1.0",
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"flashpoint:{key}:{decision.severity}")),
        "source": source,
        "type": EVENT_TYPE,
        "subject": key,
        "time": now.isoformat(),
        "datacontenttype": "application/json",
        "data": data,
    }


def encode(cloudevent: dict[str, Any]) -> bytes:
    return orjson.dumps(cloudevent)


def _hours_between(a: str, b: str) -> float:
    return max(0.0, (datetime.fromisoformat(b) - datetime.fromisoformat(a)).total_seconds() / 3600)
