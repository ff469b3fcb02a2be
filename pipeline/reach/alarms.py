"""What escalating on the forecast would have done, cascade by cascade: the false
alarms and the early warnings (issue 29, point 4).

The escalation policy lets the forecast raise a level once a cascade has
``min_reposts`` reposts and is ``min_seconds`` old (pipeline/escalation/policy.py).
Here the forecast's potential reach (leaning ``lean`` of the way towards the top of its
80% interval, as the policy's ``forecast_lean``) is checked at each repost from then on,
until the cascade's own potential reach (the followers of the post and of every repost
so far) passes the threshold T. A cascade whose final potential reach stays below T
but whose forecast passed it is a false alarm; one that passes T later and was
forecast to before it did is an early warning, and the lead is how much earlier.
Cascades that pass T with the post itself are left out: there is nothing to forecast.

With ``cv``, each cascade is judged by a forecast fitted without it (its fold's
training cascades plus ``train_also``), as ``reach evaluate --cv`` does; without, by
the forecast given (the shipped one has seen the shared datasets).

Large cascades are checked at their first 100 reposts and then at most ``checks``
reposts spread evenly over the rest, which keeps a campaign over thousands of reposts
per cascade quadratic in ``checks`` only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from pipeline.reach.forecast import Cascade, Forecast, Snapshot, final_reach, lean

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


@dataclass(frozen=True)
class Track:
    """One cascade replayed: its own potential reach over time, and the forecast's
    potential reach (point and top of the 80% interval) at each repost checked."""

    times: np.ndarray  # of the cascade's events
    reach: np.ndarray  # its own potential reach after each event
    at: np.ndarray  # when each check happened
    point: np.ndarray
    high: np.ndarray

    def passed(self, threshold: float) -> float | None:
        """When the cascade itself passed ``threshold``."""
        return float(self.times[int(np.argmax(self.reach >= threshold))]) if self.reach[-1] >= threshold else None

    def first_alarm(self, threshold: float, lean_by: float) -> float | None:
        """When the forecast first passed ``threshold`` before the cascade did."""
        passed = self.passed(threshold)
        said = np.flatnonzero(lean(self.point, self.high, lean_by) >= threshold)
        if not len(said):
            return None
        t = float(self.at[said[0]])
        return t if passed is None or t < passed else None


def track(c: Cascade, forecaster: Forecasting, *, min_reposts: int, min_seconds: float, checks: int) -> Track:
    reach = np.cumsum(c.followers)
    at, point, high = [], [], []
    for i in _checked(c, min_reposts, checks):
        t = float(c.times[i])
        if t < min_seconds:
            continue
        snap = Snapshot.of(c, t)
        now = float(reach[np.searchsorted(c.times, t, side="right") - 1])
        f = forecaster.predict(snap)
        at.append(t)
        point.append(final_reach(snap.reposts, now - float(c.followers[0]), now, f.reach_final))
        high.append(final_reach(snap.reposts, now - float(c.followers[0]), now, max(f.high, f.reach_final)))
    return Track(c.times, reach, np.asarray(at), np.asarray(point), np.asarray(high))


def first_alarm(
    c: Cascade,
    forecaster: Forecasting,
    threshold: float,
    *,
    min_reposts: int,
    min_seconds: float,
    checks: int,
    lean_by: float = 0.0,
) -> tuple[float | None, float | None]:
    """(when the forecast first passed ``threshold``, when the cascade itself did), in
    seconds after the post; None where it never did."""
    tr = track(c, forecaster, min_reposts=min_reposts, min_seconds=min_seconds, checks=checks)
    return tr.first_alarm(threshold, lean_by), tr.passed(threshold)


def alarms(
    cascades: Sequence[Cascade],
    forecaster: Forecasting | None,
    thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
    *,
    lean_by: float = 0.0,
    **options: Any,
) -> list[dict[str, Any]]:
    """One row per threshold (see the module's docstring); ``options`` as for :func:`sweep`."""
    return sweep(cascades, forecaster, thresholds, [lean_by], **options)[0]


def sweep(
    cascades: Sequence[Cascade],
    forecaster: Forecasting | None,
    thresholds: Sequence[float],
    leans: Sequence[float],
    *,
    min_reposts: int = 5,
    min_seconds: float = 300.0,
    checks: int = 200,
    cv: int = 0,
    train_also: Sequence[Cascade] = (),
    seed: int = 0,
) -> list[list[dict[str, Any]]]:
    """:func:`alarms` for each of ``leans``, every cascade replayed once."""
    if min_reposts < 1:
        raise ValueError("min_reposts must be at least 1: with 0 the policy never escalates on the forecast")
    if cv < 2 and forecaster is None:
        raise ValueError("give a fitted forecaster, or cv >= 2 to fit one per fold")
    tracks = [
        track(c, model, min_reposts=min_reposts, min_seconds=min_seconds, checks=checks)
        for c, model in _judges(cascades, forecaster, cv, train_also, seed)
    ]
    return [[_count(cascades, tracks, threshold, w) for threshold in thresholds] for w in leans]


def _judges(
    cascades: Sequence[Cascade], forecaster: Forecasting | None, cv: int, train_also: Sequence[Cascade], seed: int
) -> list[tuple[Cascade, Forecasting]]:
    """Each cascade with the forecast that judges it."""
    if cv < 2:
        assert forecaster is not None
        return [(c, forecaster) for c in cascades]
    from pipeline.reach import fitting

    fold, models = fitting.cross_fits(cascades, cv, seed=seed, train_also=train_also)
    return [(c, models[int(f)]) for c, f in zip(cascades, fold, strict=True)]


def _count(cascades: Sequence[Cascade], tracks: Sequence[Track], threshold: float, lean_by: float) -> dict[str, Any]:
    false_alarms = stay_below = later = early = 0
    leads: list[float] = []
    for c, tr in zip(cascades, tracks, strict=True):
        if c.followers[0] >= threshold:
            continue
        alarm, passed = tr.first_alarm(threshold, lean_by), tr.passed(threshold)
        if passed is None:
            stay_below += 1
            false_alarms += alarm is not None
        else:
            later += 1
            if alarm is not None:
                early += 1
                leads.append(passed - alarm)
    return {
        "threshold": threshold,
        "lean": lean_by,
        "cascades": len(cascades),
        "stay_below": stay_below,
        "false_alarms": false_alarms,
        "false_alarm_share": round(false_alarms / len(cascades), 4) if cascades else 0.0,
        "pass_later": later,
        "escalated_early": early,
        "median_lead_seconds": float(np.median(leads)) if leads else None,
    }


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
