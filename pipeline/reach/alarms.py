"""What escalating on the forecast would have done, cascade by cascade: the false
alarms and the early warnings (issue 29, point 4).

The escalation policy lets the forecast raise a level once a cascade has
``min_reposts`` reposts and is ``min_seconds`` old (pipeline/escalation/policy.py).
Here the forecast's potential reach is checked at each repost from then on, until the
cascade's own potential reach (the followers of the post and of every repost so far)
passes the threshold T. A cascade whose final potential reach stays below T but whose
forecast passed it is a false alarm; one that passes T later and was forecast to
before it did is an early warning, and the lead is how much earlier. Cascades that
pass T with the post itself are left out: there is nothing to forecast.

Large cascades are checked at their first 100 reposts and then at most ``checks``
reposts spread evenly over the rest, which keeps a campaign over thousands of reposts
per cascade quadratic in ``checks`` only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from pipeline.reach.forecast import Cascade, Forecast, Snapshot, final_reach

DEFAULT_THRESHOLDS = (20_000, 200_000, 1_000_000)


class Forecasting(Protocol):
    def predict(self, snap: Snapshot) -> Forecast: ...


def _checked(c: Cascade, min_reposts: int, checks: int) -> list[int]:
    """Indices (into the cascade's events; 0 is the post) of the reposts checked."""
    first = list(range(min_reposts, min(len(c.times), 101)))
    rest = np.arange(101, len(c.times))
    if len(rest) > checks:
        rest = rest[np.linspace(0, len(rest) - 1, checks).astype(int)]
    return first + [int(i) for i in rest]


def first_alarm(
    c: Cascade, forecaster: Forecasting, threshold: float, *, min_reposts: int, min_seconds: float, checks: int
) -> tuple[float | None, float | None]:
    """(when the forecast first passed ``threshold``, when the cascade itself did), in
    seconds after the post; None where it never did."""
    reach = np.cumsum(c.followers)
    passed = float(c.times[int(np.argmax(reach >= threshold))]) if reach[-1] >= threshold else None
    for i in _checked(c, min_reposts, checks):
        t = float(c.times[i])
        if passed is not None and t >= passed:
            break
        if t < min_seconds:
            continue
        snap = Snapshot.of(c, t)
        now = float(reach[np.searchsorted(c.times, t, side="right") - 1])
        if (
            final_reach(snap.reposts, now - float(c.followers[0]), now, forecaster.predict(snap).reach_final)
            >= threshold
        ):
            return t, passed
    return None, passed


def alarms(
    cascades: Sequence[Cascade],
    forecaster: Forecasting,
    thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
    *,
    min_reposts: int = 5,
    min_seconds: float = 300.0,
    checks: int = 200,
) -> list[dict[str, Any]]:
    if min_reposts < 1:
        raise ValueError("min_reposts must be at least 1: with 0 the policy never escalates on the forecast")
    out = []
    for threshold in thresholds:
        false_alarms = stay_below = later = early = 0
        leads: list[float] = []
        for c in cascades:
            if c.followers[0] >= threshold:
                continue
            alarm, passed = first_alarm(
                c, forecaster, threshold, min_reposts=min_reposts, min_seconds=min_seconds, checks=checks
            )
            if passed is None:
                stay_below += 1
                false_alarms += alarm is not None
            else:
                later += 1
                if alarm is not None:
                    early += 1
                    leads.append(passed - alarm)
        out.append(
            {
                "threshold": threshold,
                "cascades": len(cascades),
                "stay_below": stay_below,
                "false_alarms": false_alarms,
                "false_alarm_share": round(false_alarms / len(cascades), 4) if cascades else 0.0,
                "pass_later": later,
                "escalated_early": early,
                "median_lead_seconds": float(np.median(leads)) if leads else None,
            }
        )
    return out


def render(rows: Sequence[dict[str, Any]]) -> str:
    head = f"{'T':>12}{'stay below':>12}{'false alarms':>16}{'pass later':>12}{'early':>8}{'median lead':>14}"
    lines = [head]
    for r in rows:
        lead = "-" if r["median_lead_seconds"] is None else f"{r['median_lead_seconds'] / 60:.0f} min"
        fa = f"{r['false_alarms']} ({r['false_alarm_share']:.1%})"
        lines.append(
            f"{r['threshold']:>12,.0f}{r['stay_below']:>12}{fa:>16}{r['pass_later']:>12}{r['escalated_early']:>8}{lead:>14}"
        )
    return "\n".join(lines)
