"""The escalation event: a CloudEvent 1.0 (structured JSON) per transition, whose
``id`` is derived from (dedup key, severity), so a consumer that sees the same id
twice may drop the second. The contract is ``pipeline/schemas/escalation.v1.json``.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import orjson

from pipeline.classification.topics import OTHER
from pipeline.classification.verdict import SEVERITY_LABELS
from pipeline.escalation.policy import Action, Decision
from pipeline.reach import CascadeState, Outlook
from pipeline.reach.cascade import RootPost

EVENT_TYPE = "dev.flashpoint.escalation.v1"
# The contract consumers code against: pipeline/schemas/escalation.v1.json.
SCHEMA_RESOURCE = "escalation.v1.json"
SCHEMA_VERSION = 1


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
    lead = state.evidence
    assert lead is not None, "escalations are only decided for conversations with a customer complaint"
    # The conversation's first post when it was seen (it may be an unwatched account's).
    root = state.root or lead
    key = dedup_key(decision.brand.brand, state.key)
    hours = _hours_between(root.created_at, state.last_event_at or root.created_at)
    sev = state.complaint_severity
    # The brand's: its policy's complaint share applied (docs/model.md).
    p = decision.probability if decision.probability is not None else (state.complaint_probability or 0.0)
    data = {
        "schema_version": SCHEMA_VERSION,
        "kind": "cascade",
        "dedup_key": key,
        "cascade": state.key,
        "action": action,
        "severity": decision.severity,
        "brand": decision.brand.brand,
        "addressed": decision.brand.addressed,
        "matched": list(decision.brand.via),
        # The brand's watchlist topic of the complaint, and the team that owns it.
        "topic": decision.brand.topic or OTHER,
        "team": decision.brand.team,
        "root_post": _post(root),
        "complaint_post": {**_post(lead), "probability": round(p, 4)},
        "brand_response": _brand_response(state, decision.brand.brand),
        "complaint_probability": round(p, 4),
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
    return envelope(key, f"{key}:{decision.severity}", data, source=source, now=now)


def _post(p: RootPost) -> dict[str, Any]:
    return {
        "id": p.id,
        "platform": p.platform,
        "url": p.url,
        "text": p.text,
        "author_handle": p.author_handle,
        "author_followers": p.author_followers,
        "author_verified": p.author_verified,
        "created_at": p.created_at,
    }


def _brand_response(state: CascadeState, brand: str) -> dict[str, Any] | None:
    """When the brand's own account first answered in the conversation, and how long
    after the customer's first post there; None while it has not."""
    at = state.brand_answers.get(brand)
    if at is None:
        return None
    after = state.answered_after(brand)
    return {"first_at": at, "after_seconds": None if after is None else round(after), "replies": state.brand_replies}


def envelope(key: str, ident: str, data: dict[str, Any], *, source: str, now: datetime) -> dict[str, Any]:
    """The CloudEvent around ``data``; its id is derived from ``ident``, so the same
    transition always gets the same id."""
    return {
        "specversion": "1.0",
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"flashpoint:{ident}")),
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


def encode(cloudevent: dict[str, Any]) -> bytes:
    return orjson.dumps(cloudevent)


def _hours_between(a: str, b: str) -> float:
    return max(0.0, (datetime.fromisoformat(b) - datetime.fromisoformat(a)).total_seconds() / 3600)
