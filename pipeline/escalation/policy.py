"""The policy: which cascades each brand's team sees, at what severity, and why.

Severity only ever rises: the first crossing publishes ``open``, each higher level
``upgrade``, so a cascade yields at most one event per level and brand.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pipeline.classification.calibration import prior_shift, trained_share
from pipeline.reach import CascadeState, Outlook
from pipeline.reach.forecast import lean
from pipeline.records import BrandMatch
from pipeline.settings import Settings

LEVELS = ("info", "warning", "error", "critical")
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
    # Brand-level pile-ons: distinct complaining customers within the window for
    # info, warning, error, critical.
    pile_on_authors: tuple[int, int, int, int] = (3, 6, 12, 25)
    pile_on_window_seconds: float = 1800.0
    # Event time: a complaint older than the newest one seen by more than this is too
    # late for the window (it still counts towards the usual rate).
    pile_on_lateness_seconds: float = 300.0
    # A pile-on needs this many times the brand's usual complaints per window (learned
    # from the last pile_on_baseline_days of its traffic), pile_on_authors as a floor.
    pile_on_baseline_factor: float = 3.0
    pile_on_baseline_days: float = 7.0
    # An author who complained about the brand in this many earlier conversations
    # raises the new one a level (0: never).
    repeat_complainer_cascades: int = 1
    # Re-send an unacknowledged escalation after this long, per severity (0: never).
    reminder_seconds: tuple[float, float, float, float] = (0.0, 14_400.0, 3_600.0, 900.0)
    # The forecast may raise a level once this many reposts were seen (None: never)
    # over at least this long: a few reposts in the first seconds extrapolate wildly.
    forecast_min_reposts: int | None = 5
    forecast_min_seconds: float = 300.0
    # The forecast reach compared with the thresholds: from the point forecast (0) to
    # the top of its 80% interval (1). The point forecast is cautious by design (it
    # minimises percentage error, and over-forecasting costs more there), so on its own
    # it warns about almost no small cascade before it grows (docs/reach.md).
    forecast_lean: float = 0.5
    # The brand's expected share of complaints among its classified posts (None:
    # unknown), and the share the model was trained on: the probability is adjusted
    # from the one to the other (pipeline/classification/calibration.py).
    complaint_share: float | None = None
    model_complaint_share: float | None = None

    @classmethod
    def from_settings(cls, s: Settings) -> Policy:
        return cls(
            complaint_share=s.complaint_share if s.complaint_share > 0 else None,
            model_complaint_share=trained_share(s.model_dir / "config.json"),
            min_complaint_probability=s.min_complaint_probability,
            reach_thresholds=(s.reach_info, s.reach_warning, s.reach_error, s.reach_critical),
            about_reach_factor=s.about_reach_factor,
            influencer_followers=s.influencer_followers,
            pile_on_replies=s.pile_on_replies,
            forecast_min_reposts=s.forecast_min_reposts if s.forecast_min_reposts > 0 else None,
            forecast_min_seconds=s.forecast_min_seconds,
            forecast_lean=s.forecast_lean,
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

    def of(self, brand: str) -> Policy:
        """The same policy for every brand: a :class:`Policy` serves wherever
        :class:`Policies` does."""
        return self

    @property
    def forecast_levels(self) -> tuple[int, int, int, int]:
        return self.forecast_thresholds or self.reach_thresholds

    def probability(self, p: float) -> float:
        """The model's complaint probability for this brand's mix of posts."""
        return prior_shift(p, self.model_complaint_share, self.complaint_share)

    @property
    def shifts(self) -> bool:
        return (
            self.complaint_share is not None
            and self.model_complaint_share is not None
            and self.complaint_share != self.model_complaint_share
        )


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
    "pile_on_authors": "pile_on_authors",
    "pile_on_window_minutes": "pile_on_window_seconds",
    "pile_on_lateness_minutes": "pile_on_lateness_seconds",
    "pile_on_baseline_factor": "pile_on_baseline_factor",
    "pile_on_baseline_days": "pile_on_baseline_days",
    "repeat_complainer_conversations": "repeat_complainer_cascades",
    "reminder_minutes": "reminder_seconds",
    "forecast_lean": "forecast_lean",
    "complaint_share": "complaint_share",
}


def _policy_value(key: str, value: Any) -> Any:
    if key == "reminder_minutes":
        if not (
            isinstance(value, list) and len(value) == 4 and all(isinstance(v, (int, float)) and v >= 0 for v in value)
        ):
            raise ValueError("expected four numbers of minutes >= 0 (0: never): info, warning, error, critical")
        return tuple(float(v) * 60 for v in value)
    if key in ("pile_on_window_minutes", "pile_on_lateness_minutes"):
        if not (isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0):
            raise ValueError("expected a number of minutes >= 0")
        if key == "pile_on_window_minutes" and value == 0:
            raise ValueError("expected a number of minutes > 0")
        return float(value) * 60
    if key == "complaint_share":
        if not (isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value < 1):
            raise ValueError("expected the share of the brand's posts that are complaints, within 0..1 (exclusive)")
        return float(value)
    if key == "forecast_lean":
        if not (isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= 1):
            raise ValueError("expected a number within 0..1 (0: the point forecast, 1: the top of its interval)")
        return float(value)
    if key in ("pile_on_baseline_factor", "pile_on_baseline_days"):
        if not (isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0):
            raise ValueError("expected a number >= 0 (0: no baseline, the counts alone)")
        return float(value)
    if key in ("reach", "forecast_reach", "pile_on_authors"):
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
    # The complaint probability for this brand (its policy's prior shift applied).
    probability: float | None = None


def decide(state: CascadeState, policies: Policies | Policy, outlook: Outlook | None = None) -> list[Decision]:
    """The severity each brand's team should see now, with its reasons, or nothing for
    a cascade that is not (yet) a complaint worth escalating. The complaint is the
    conversation's strongest customer post (``state.lead``: the root or a later one); a
    brand's own posts never count. The rules, in order, for each brand its customer
    posts name (``docs/operations.md`` shows them as a table; the tests pin
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
    model_p = state.complaint_probability
    root = state.evidence  # the conversation's strongest customer post: what is complained of
    if root is None or model_p is None:
        return []
    decisions = []
    for match in state.brands:
        policy = policies.of(match.brand)
        p = policy.probability(model_p)
        if p < policy.min_complaint_probability or (state.complaint_severity or 1) < policy.min_severity:
            continue
        vip = root.author_handle.lower() in policy.vip_handles
        spread = state.reposts + state.quotes
        if not match.addressed and not vip and spread < policy.about_min_spread and state.complaining_responses < 1:
            continue
        factor = 1.0 if match.addressed else policy.about_reach_factor
        how = "addressed to" if match.addressed else "about"
        later = state.root is None or state.root.id != root.id
        reasons = [
            f"@{root.author_handle}'s {'later post in the conversation' if later else 'post'} is a complaint "
            f"{how} {match.brand} (probability {p:.0%}"
            + (
                f", for {match.brand}'s {policy.complaint_share:.0%} share of complaints; the model says {model_p:.0%}"
                if policy.shifts
                else ""
            )
            + f"; matched {', '.join(match.via)})."
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
            judged = float(lean(outlook.potential_reach, outlook.potential_reach_high, policy.forecast_lean))
            ahead = _passed(round(judged), policy.forecast_levels, factor)
            if ahead > level:
                level = ahead
                on_its_own = _passed(round(outlook.potential_reach), policy.forecast_levels, factor) >= ahead
                leaning = (
                    "; that passes"
                    if on_its_own
                    else f"; leaning {policy.forecast_lean:.0%} of the way to the interval's top, {judged:,.0f} passes"
                )
                reasons.append(
                    f"Forecast: potential reach about {outlook.potential_reach:,.0f} "
                    f"(80% interval {outlook.potential_reach_low:,.0f} to {outlook.potential_reach_high:,.0f}) "
                    f"once the cascade settles, from {outlook.reposts:,} reposts in "
                    f"{_duration(outlook.observed_seconds)}{leaning} the {LEVELS[ahead]} threshold of "
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
            answered = state.brand_answers.get(match.brand)
            if answered is not None:
                reasons.append(f"{match.brand} answered {_answer_delay(answered, state.answered_after(match.brand))}.")
            decisions.append(Decision(match, LEVELS[level], tuple(reasons), p))
    return decisions


def _answer_delay(answered: str, seconds: float | None) -> str:
    if seconds is None:
        return f"at {answered}"
    if seconds < 0:
        return f"at {answered}, before the customer's first post here"
    return f"at {answered}, {_duration(seconds)} after the customer's first post"


def worth_deciding(state: CascadeState, policies: Policies | Policy) -> bool:
    """Whether some brand's policy may escalate this cascade's root at all (callers
    skip costlier work, such as the forecast, when not)."""
    p = state.complaint_probability
    if state.evidence is None or p is None:
        return False
    return any(
        policies.of(b.brand).probability(p) >= policies.of(b.brand).min_complaint_probability for b in state.brands
    )


def _passed(value: int, thresholds: tuple[int, int, int, int], factor: float) -> int:
    """Index of the highest threshold ``value`` reaches, -1 for none."""
    level = -1
    for i, threshold in enumerate(thresholds):
        if value >= threshold * factor:
            level = i
    return level


def pending(state: CascadeState, decisions: list[Decision]) -> list[tuple[Decision, Action]]:
    """What to publish now: a first escalation, or one at a higher level than before."""
    out: list[tuple[Decision, Action]] = []
    for d in decisions:
        previous = state.escalated.get(d.brand.brand)
        if previous is None:
            out.append((d, "open"))
        elif LEVELS.index(d.severity) > LEVELS.index(previous):
            out.append((d, "upgrade"))
    return out


def transitions(state: CascadeState, decisions: list[Decision]) -> list[tuple[Decision, Action]]:
    """:func:`pending`, recorded in ``state.escalated`` (the caller saves state)."""
    out = pending(state, decisions)
    for d, _action in out:
        state.escalated[d.brand.brand] = d.severity
    return out


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} seconds"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} minutes"
    return f"{seconds / 3600:.1f} hours"
