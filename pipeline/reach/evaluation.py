"""Flashpoint's forecast against SEISMIC and two plain baselines (no further growth,
and the log-linear fit of Szabo & Huberman; :mod:`pipeline.reach.baselines`) on the
same cascades, seen for the same time.

Errors are absolute percentage errors of the predicted final size against the true
final size (the cascade's last count in the file). A supercritical SEISMIC prediction
is infinite: it counts in the median and the 90th percentile and is left out of the
mean (the count is reported). Held out (``cv >= 2``): cascades are split into folds,
the forecast and the log-linear factors are fitted on the other folds and judged on
each, so no cascade is judged by parameters that saw it. ``train_also`` adds cascades
of another kind to every fold's forecast fit, as the shipped forecast is fitted on
both kinds; they are never judged, and the log-linear baseline is fitted on the judged
kind only (its usual use). The shipped forecast (``cv < 2``) has no training folds
here, so the log-linear baseline is left out. ``repeats`` splits the cascades that many
times (seeds ``seed``, ``seed + 1``, ...) and pools the judgements: with a few dozen big
cascades, one split's figures move by several points with the split alone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from pipeline.reach import fitting
from pipeline.reach.baselines import LogLinear, no_growth
from pipeline.reach.forecast import FIT_TIMES, Cascade, Forecaster, Snapshot, final_reach

PREDICTORS = ("seismic", "no_growth", "log_linear", "flashpoint")

DEFAULT_THRESHOLDS = (50, 100, 500, 1_000, 2_500, 5_000, 10_000)


def _errors(pred: np.ndarray, true: np.ndarray) -> dict[str, float | int]:
    ape = np.abs(pred - true) / true
    finite = ape[np.isfinite(ape)]
    return {
        "median_ape": round(float(np.median(ape)), 4),
        "mean_ape": round(float(finite.mean()), 4) if len(finite) else float("nan"),
        "p90_ape": round(float(np.percentile(ape, 90)), 4),
        "infinite": int(len(ape) - len(finite)),
    }


def _decision(pred: np.ndarray, true: np.ndarray, threshold: float) -> dict[str, float | None]:
    said, real = pred >= threshold, true >= threshold
    hit = int(np.sum(said & real))
    return {
        "precision": round(hit / int(said.sum()), 4) if said.any() else None,
        "recall": round(hit / int(real.sum()), 4) if real.any() else None,
    }


def evaluate(
    cascades: Sequence[Cascade],
    observe: float,
    forecaster: Forecaster | None = None,
    *,
    cv: int = 0,
    thin: float = 1.0,
    seed: int = 0,
    thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
    train_also: Sequence[Cascade] = (),
    repeats: int = 1,
) -> dict[str, Any]:
    """The forecast and the baselines judged at one observation time (see
    :func:`evaluate_times`)."""
    return evaluate_times(
        cascades,
        [observe],
        forecaster,
        cv=cv,
        thin=thin,
        seed=seed,
        thresholds=thresholds,
        train_also=train_also,
        repeats=repeats,
    )[0]


def evaluate_times(
    cascades: Sequence[Cascade],
    observe: Sequence[float],
    forecaster: Forecaster | None = None,
    *,
    cv: int = 0,
    thin: float = 1.0,
    seed: int = 0,
    thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
    train_also: Sequence[Cascade] = (),
    fits: tuple[np.ndarray, list[Forecaster]] | None = None,
    repeats: int = 1,
) -> list[dict[str, Any]]:
    """One result per time in ``observe``; with ``cv``, each fold's forecast is fitted
    once (on every usual observation time) and judged at all of them. ``fits``, from
    :func:`pipeline.reach.fitting.cross_fits` with the same ``cv`` and ``seed``, saves
    fitting them again (judging the same folds thinned, say); ``repeats`` pools that
    many splits (``cv`` needed)."""
    if cv < 2 and forecaster is None:
        raise ValueError("give a fitted forecaster, or cv >= 2 to fit one per fold")
    if repeats < 1 or (repeats > 1 and (cv < 2 or fits is not None)):
        raise ValueError("repeats must be >= 1, and more than one needs cv >= 2 and no given fits")
    # All the usual observation times: the trees learn from every one of them.
    times = sorted({*FIT_TIMES, *observe})
    rows: dict[float, list[dict[str, float]]] = {t: [] for t in observe}
    for run in range(seed, seed + repeats):
        fold, models = np.zeros(len(cascades), dtype=int), [forecaster]
        if cv >= 2:
            fold, fitted = fits or fitting.cross_fits(cascades, cv, seed=run, train_also=train_also, times=times)
            models = list(fitted)
        thin_rng = np.random.default_rng(run + 1)
        judged = [c if thin >= 1.0 else c.thinned(thin, thin_rng) for c in cascades]
        for k in sorted(set(fold.tolist())):
            model, log_linear = models[k], None
            if cv >= 2:
                log_linear = LogLinear.fit([c for c, f in zip(cascades, fold, strict=True) if f != k], times)
            assert model is not None
            for x, f in zip(judged, fold, strict=True):
                if f != k or x.final == 0:
                    continue
                for t in observe:
                    rows[t].append(_judge(x, t, model, log_linear))
    return [
        _summary(rows[t], t, len(cascades), cv, seed, thin, len(train_also), forecaster, thresholds, repeats)
        for t in observe
    ]


def _judge(x: Cascade, observe: float, model: Forecaster, log_linear: LogLinear | None) -> dict[str, float]:
    feat = Snapshot.of(x, observe)
    reach_now = float(x.followers[x.times <= observe].sum())
    # The original post (time 0) is always seen; the rest are reposts.
    rep_followers = reach_now - float(x.followers[0])
    size = {
        "seismic": feat.seismic.final,
        "no_growth": no_growth(feat.reposts),
        "log_linear": log_linear.predict(feat.reposts, observe) if log_linear else math.nan,
    }
    ours = model.predict(feat)
    size["flashpoint"] = ours.final
    reach_size = {**size, "flashpoint": ours.reach_final}
    row: dict[str, float] = {"true": x.final, "true_reach": float(x.followers.sum()), "reposts": feat.reposts}
    # Is the final size inside the forecast's 80% interval? SEISMIC's own interval
    # (from the 5th and 95th percentiles of its infectiousness) beside it.
    row["flashpoint_covered"] = float(ours.low <= x.final <= ours.high)
    row["seismic_covered"] = float(feat.seismic.low <= x.final <= feat.seismic.high)
    row["flashpoint_exact"] = float(ours.final == x.final)
    for name, final in size.items():
        row[name] = final
        row[f"{name}_reach"] = final_reach(feat.reposts, rep_followers, reach_now, reach_size[name])
    return row


def _summary(
    rows: list[dict[str, float]],
    observe: float,
    total: int,
    cv: int,
    seed: int,
    thin: float,
    also: int,
    forecaster: Forecaster | None,
    thresholds: Sequence[float],
    repeats: int = 1,
) -> dict[str, Any]:
    true = np.array([r["true"] for r in rows], dtype=float)
    true_reach = np.array([r["true_reach"] for r in rows], dtype=float)
    pred = {n: np.array([r[n] for r in rows], dtype=float) for n in PREDICTORS}
    reach = {n: np.array([r[f"{n}_reach"] for r in rows], dtype=float) for n in PREDICTORS}
    shown = [n for n in PREDICTORS if not np.isnan(pred[n]).all()]
    return {
        # Each cascade is judged once per split.
        "cascades": len(rows) // repeats,
        "skipped_no_reposts": total - len(rows) // repeats,
        "observe_seconds": observe,
        "final_size": {
            "min": int(true.min()),
            "median": float(np.median(true)),
            "max": int(true.max()),
        },
        "seen_at_observation_median": float(np.median([r["reposts"] for r in rows])),
        "protocol": (
            (
                f"held out: {cv}-fold split by cascade (seed {seed})"
                if repeats == 1
                else f"held out: {repeats} {cv}-fold splits by cascade (seeds {seed}..{seed + repeats - 1}), pooled"
            )
            + ", forecast fitted on the other folds"
            + (f" and {also} other cascades" if also else "")
            if cv >= 2
            else f"shipped forecast ({forecaster.trained_on if forecaster else ''})"
        )
        + (f"; each repost kept with probability {thin}" if thin < 1.0 else ""),
        "size": {n: _errors(pred[n], true) for n in shown},
        "interval_coverage": {
            n: round(float(np.mean([r[f"{n}_covered"] for r in rows])), 4) for n in ("seismic", "flashpoint")
        },
        # Where the forecast hits the final size exactly, any interval holding the
        # forecast holds the truth: this share is the least coverage an interval can have.
        "forecast_exact": round(float(np.mean([r["flashpoint_exact"] for r in rows])), 4),
        "potential_reach": {n: _errors(reach[n], true_reach) for n in shown},
        "final_at_least": [
            {
                "threshold": t,
                "positives": int(np.sum(true >= t)),
                "seismic": _decision(pred["seismic"], true, t),
                "flashpoint": _decision(pred["flashpoint"], true, t),
            }
            for t in thresholds
            if np.any(true >= t) or np.any(pred["flashpoint"] >= t) or np.any(pred["seismic"] >= t)
        ],
    }


def render(result: dict[str, Any]) -> str:
    """The result as a few lines a person reads."""
    fs = result["final_size"]
    lines = [
        f"{result['cascades']} cascades (final size {fs['min']}..{fs['max']}, median {fs['median']:.0f}; "
        f"median {result['seen_at_observation_median']:.0f} reposts seen), "
        f"observed for {result['observe_seconds']:.0f} s; "
        f"{result['skipped_no_reposts']} without reposts skipped",
        result["protocol"],
        "",
        f"{'final size':<22}{'median APE':>12}{'mean APE':>12}{'p90 APE':>12}",
    ]
    for what in ("size", "potential_reach"):
        if what == "potential_reach":
            lines += ["", f"{'final potential reach':<22}{'median APE':>12}{'mean APE':>12}{'p90 APE':>12}"]
        for name, e in result[what].items():
            extra = f"  ({e['infinite']} supercritical, out of the mean)" if e["infinite"] else ""
            label = name.replace("_", " ")
            lines.append(f"  {label:<20}{e['median_ape']:>12.3f}{e['mean_ape']:>12.3f}{e['p90_ape']:>12.3f}{extra}")
    cover = result["interval_coverage"]
    lines += [
        "",
        f"final size inside the interval: flashpoint's 80% {cover['flashpoint']:.0%} of cascades, "
        f"seismic's own {cover['seismic']:.0%} (flashpoint's forecast exact for {result['forecast_exact']:.0%})",
    ]
    lines += ["", f"{'final >= T':<22}{'positives':>10}{'SEISMIC P / R':>18}{'Flashpoint P / R':>20}"]

    def pr(d: dict[str, float | None]) -> str:
        def f(x: float | None) -> str:
            return "-" if x is None else f"{x:.2f}"

        return f"{f(d['precision'])} / {f(d['recall'])}"

    for row in result["final_at_least"]:
        t, n = row["threshold"], row["positives"]
        lines.append(f"  T = {t:<16,}{n:>10}{pr(row['seismic']):>18}{pr(row['flashpoint']):>20}")
    return "\n".join(lines)
