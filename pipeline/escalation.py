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
from pipeline.reach import CascadeState, Outlook
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
    # The forecast may raise a level once this many reposts were seen (None: never)
    # over at least this long: a few reposts in the first seconds extrapolate wildly.
    forecast_min_reposts: int | None = 5
    forecast_min_seconds: float = 300.0

    @classmethod
    def from_settings(cls, s: Settings) -> Policy:
        return cls(
            min_complaint_probability=s.min_complaint_probability,
            reach_thresholds=(s.reach_info, s.reach_warning, s.reach_error, s.reach_critical),
            about_reach_factor=s.about_reach_factor,
            influencer_followers=s.influencer_followers,
            pile_on_replies=s.pile_on_replies,
            forecast_min_reposts=s.forecast_min_reposts if s.forecast_min_reposts > 0 else None,
            forecast_min_seconds=s.forecast_min_seconds,
        )


@dataclass(frozen=True)
class Decision:
    brand: BrandMatch
    severity: str
    reasons: tuple[str, ...]


def decide(state: CascadeState, policy: Policy, outlook: Outlook | None = None) -> list[Decision]:
    """The severity each brand's team should see now, or nothing for a cascade that is
    not (yet) a complaint worth escalating. With an ``outlook``, a cascade forecast to
    pass a reach threshold escalates now, before its reach does."""
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
        if (
            outlook is not None
            and policy.forecast_min_reposts is not None
            and outlook.reposts >= policy.forecast_min_reposts
            and outlook.observed_seconds >= policy.forecast_min_seconds
        ):
            ahead = -1
            for i, threshold in enumerate(policy.reach_thresholds):
                if outlook.potential_reach >= threshold * factor:
                    ahead = i
            if ahead > level:
                level = ahead
                reasons.append(
                    f"Forecast: potential reach about {outlook.potential_reach:,.0f} "
                    f"(80% interval {outlook.potential_reach_low:,.0f} to {outlook.potential_reach_high:,.0f}) "
                    f"once the cascade settles, from {outlook.reposts:,} reposts in "
                    f"{_duration(outlook.observed_seconds)}; that passes the {LEVELS[ahead]} threshold of "
                    f"{int(policy.reach_thresholds[ahead] * factor):,}."
                )
            if outlook.supercritical and level >= 0:
                reasons.append(
                    "SEISMIC reads the cascade as supercritical: each wave of reposts is larger than the last."
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
    outlook: Outlook | None = None,
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
        "forecast": _forecast(outlook),
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


def _forecast(o: Outlook | None) -> dict[str, Any] | None:
    if o is None:
        return None
    return {
        "observed_seconds": round(o.observed_seconds, 1),
        "reposts_seen": o.reposts,
        "final_reposts": round(o.final_reposts, 1),
        "final_reposts_interval": [round(o.final_reposts_low, 1), round(o.final_reposts_high, 1)],
        "potential_reach": round(o.potential_reach),
        "potential_reach_interval": [round(o.potential_reach_low), round(o.potential_reach_high)],
        "interval": 0.8,
        # JSON has no infinity: a supercritical SEISMIC forecast is null with the flag set.
        "seismic_final_reposts": None if o.supercritical else round(o.seismic_final_reposts, 1),
        "supercritical": o.supercritical,
    }


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} seconds"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} minutes"
    return f"{seconds / 3600:.1f} hours"


def encode(cloudevent: dict[str, Any]) -> bytes:
    return orjson.dumps(cloudevent)


def _hours_between(a: str, b: str) -> float:
    return max(0.0, (datetime.fromisoformat(b) - datetime.fromisoformat(a)).total_seconds() / 3600)
