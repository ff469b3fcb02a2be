"""Stage 5: decide when a cascade is worth a person's attention, and say why.

The policy maps a cascade to a severity in PagerDuty's words per brand. Severity only
ever rises: the first crossing publishes ``open``, each higher level ``upgrade``, so a
cascade yields at most one event per level. Events are CloudEvents 1.0 (structured JSON
mode) whose ``id`` is derived from (dedup key, severity): a consumer that sees the
same id twice may drop the second.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Mapping
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
# The contract consumers code against: pipeline/schemas/escalation.v1.json.
SCHEMA_RESOURCE = "escalation.v1.json"
SCHEMA_VERSION = 1
Action = Literal["open", "upgrade"]


@dataclass(frozen=True)
class Policy:
    """One brand's escalation policy. Defaults come from the settings; a watchlist's
    ``[brand.policy]`` table overrides any field for its brand (see :meth:`override`)."""

    min_complaint_probability: float = 0.6
    # Complaints below this severity (1 no explicit reproach .. 4 blame) never escalate.
    min_severity: int = 1
    reach_thresholds: tuple[int, int, int, int] = (1_000, 20_000, 200_000, 1_000_000)
    # Thresholds for the forecast reach; None: the same as for the current reach.
    forecast_thresholds: tuple[int, int, int, int] | None = None
    about_reach_factor: float = 5.0
    # A complaint only *about* the brand waits until it spreads (this many reposts and
    # quotes) or somebody joins in (a complaining reply or quote).
    about_min_spread: int = 3
    influencer_followers: int = 100_000
    # Handles (lower case, no @) whose complaints are at least an error, about or not.
    vip_handles: frozenset[str] = frozenset()
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

    def override(self, table: Mapping[str, Any], where: str) -> Policy:
        """This policy with a watchlist's ``[brand.policy]`` table applied; a clear
        error for an unknown key or a wrong value."""
        changes: dict[str, Any] = {}
        for key, value in table.items():
            field = _POLICY_KEYS.get(key)
            if field is None:
                raise ValueError(f"{where}: unknown policy key {key!r} (known: {', '.join(sorted(_POLICY_KEYS))})")
            try:
                changes[field] = _policy_value(key, value)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"{where}: policy {key}: {exc}") from None
        return dataclasses.replace(self, **changes)

    @property
    def forecast_levels(self) -> tuple[int, int, int, int]:
        return self.forecast_thresholds or self.reach_thresholds


# Watchlist key -> Policy field.
_POLICY_KEYS = {
    "min_complaint_probability": "min_complaint_probability",
    "min_severity": "min_severity",
    "reach": "reach_thresholds",
    "forecast_reach": "forecast_thresholds",
    "about_reach_factor": "about_reach_factor",
    "about_min_spread": "about_min_spread",
    "influencer_followers": "influencer_followers",
    "vip": "vip_handles",
    "pile_on_replies": "pile_on_replies",
}


def _policy_value(key: str, value: Any) -> Any:
    if key in ("reach", "forecast_reach"):
        if not (isinstance(value, list) and len(value) == 4 and all(isinstance(v, int) and v >= 0 for v in value)):
            raise ValueError("expected four whole numbers >= 0: info, warning, error, critical")
        if value != sorted(value):
            raise ValueError("thresholds must rise: info <= warning <= error <= critical")
        return tuple(value)
    if key == "vip":
        if not (isinstance(value, list) and all(isinstance(v, str) and v.strip("@") for v in value)):
            raise ValueError("expected a list of handles")
        return frozenset(v.strip().lstrip("@").lower() for v in value)
    if key == "min_complaint_probability":
        if not (isinstance(value, (int, float)) and 0 <= value <= 1):
            raise ValueError("expected a number within 0..1")
        return float(value)
    if key == "min_severity":
        if not (isinstance(value, int) and 1 <= value <= 4):
            raise ValueError("expected 1 (no explicit reproach) .. 4 (blame)")
        return value
    if key == "about_reach_factor":
        if not (isinstance(value, (int, float)) and value >= 1):
            raise ValueError("expected a number >= 1")
        return float(value)
    if not (isinstance(value, int) and not isinstance(value, bool) and value >= 0):
        raise ValueError("expected a whole number >= 0")
    return value


@dataclass(frozen=True)
class Policies:
    """The policy of each watched brand, and the default for any other."""

    default: Policy
    by_brand: Mapping[str, Policy] = dataclasses.field(default_factory=dict)

    def of(self, brand: str) -> Policy:
        return self.by_brand.get(brand, self.default)

    @classmethod
    def build(cls, default: Policy, tables: Mapping[str, Mapping[str, Any]], source: str = "watchlist") -> Policies:
        """``tables``: brand name -> its ``[brand.policy]`` table (brands without one
        take the default)."""
        return cls(default, {b: default.override(t, f"{source}: brand {b!r}") for b, t in tables.items()})


@dataclass(frozen=True)
class Decision:
    brand: BrandMatch
    severity: str
    reasons: tuple[str, ...]


def decide(state: CascadeState, policies: Policies | Policy, outlook: Outlook | None = None) -> list[Decision]:
    """The severity each brand's team should see now, with its reasons, or nothing for
    a cascade that is not (yet) a complaint worth escalating. The rules, in order, for
    each brand the root post names (``README.md`` shows them as a table; the tests pin
    them):

    1. Not a complaint for this brand: probability below ``min_complaint_probability``
       or severity below ``min_severity``: nothing.
    2. Only *about* the brand (no @handle, no reply to it): nothing until it spreads
       (``about_min_spread`` reposts and quotes) or somebody joins in (a complaining
       reply or quote), unless the author is a VIP.
    3. Level from potential reach now: the highest threshold passed (``reach``; times
       ``about_reach_factor`` when only about the brand).
    4. Level from the forecast reach, once there are ``forecast_min_reposts`` reposts
       over ``forecast_min_seconds`` (``forecast_reach``, same factor): the higher wins.
    5. The author: ``influencer_followers`` or more makes it at least a warning; a VIP
       handle at least an error.
    6. One level up (to critical at most) when ``pile_on_replies`` replies or quotes
       are complaints too, and one more when a complaint addressed to the brand blames
       it outright (severity 4).
    """
    p = state.complaint_probability
    root = state.root
    if root is None or p is None:
        return []
    decisions = []
    for match in state.brands:
        policy = policies.of(match.brand) if isinstance(policies, Policies) else policies
        if p < policy.min_complaint_probability or (state.complaint_severity or 1) < policy.min_severity:
            continue
        vip = root.author_handle.lower() in policy.vip_handles
        spread = state.reposts + state.quotes
        if not match.addressed and not vip and spread < policy.about_min_spread and state.complaining_responses < 1:
            continue
        factor = 1.0 if match.addressed else policy.about_reach_factor
        how = "addressed to" if match.addressed else "about"
        reasons = [
            f"@{root.author_handle}'s post is a complaint {how} {match.brand} "
            f"(probability {p:.0%}; matched {', '.join(match.via)})."
        ]
        if not match.addressed and not vip:
            joined = state.complaining_responses
            reasons.append(
                f"It spread ({spread} reposts and quotes) and {joined} other complaint(s) joined in."
                if joined
                else f"It spread: {spread} reposts and quotes."
            )
        level = _passed(state.potential_reach, policy.reach_thresholds, factor)
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
            ahead = _passed(round(outlook.potential_reach), policy.forecast_levels, factor)
            if ahead > level:
                level = ahead
                reasons.append(
                    f"Forecast: potential reach about {outlook.potential_reach:,.0f} "
                    f"(80% interval {outlook.potential_reach_low:,.0f} to {outlook.potential_reach_high:,.0f}) "
                    f"once the cascade settles, from {outlook.reposts:,} reposts in "
                    f"{_duration(outlook.observed_seconds)}; that passes the {LEVELS[ahead]} threshold of "
                    f"{int(policy.forecast_levels[ahead] * factor):,}."
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
        if vip and level < 2:
            level = 2
            reasons.append(f"@{root.author_handle} is on {match.brand}'s VIP list.")
        if level >= 0 and state.complaining_responses >= policy.pile_on_replies and level < 3:
            level += 1
            reasons.append(f"{state.complaining_responses} replies or quotes are complaints too: a pile-on.")
        if level >= 0 and state.complaint_severity == 4 and match.addressed and level < 3:
            level += 1
            reasons.append("The complaint blames the brand outright (severity: blame).")
        if level >= 0:
            decisions.append(Decision(match, LEVELS[level], tuple(reasons)))
    return decisions


def worth_deciding(state: CascadeState, policies: Policies | Policy) -> bool:
    """Whether some brand's policy may escalate this cascade's root at all (callers
    skip costlier work, such as the forecast, when not)."""
    p = state.complaint_probability
    if state.root is None or p is None:
        return False
    return any(
        p >= (policies.of(b.brand) if isinstance(policies, Policies) else policies).min_complaint_probability
        for b in state.brands
    )


def _passed(value: int, thresholds: tuple[int, int, int, int], factor: float) -> int:
    """Index of the highest threshold ``value`` reaches, -1 for none."""
    level = -1
    for i, threshold in enumerate(thresholds):
        if value >= threshold * factor:
            level = i
    return level


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
