"""SEISMIC against Flashpoint's forecast on the same cascades, seen for the same time.

Errors are absolute percentage errors of the predicted final size against the true
final size (the cascade's last count in the file). A supercritical SEISMIC prediction
is infinite: it counts in the median and the 90th percentile and is left out of the
mean (the count is reported). Held out (``cv >= 2``): cascades are split into folds,
the forecast is fitted on the other folds and judged on each, so no cascade is judged
by parameters that saw it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from pipeline.reach.forecast import FIT_TIMES, Cascade, Forecaster, Snapshot, final_reach, fit

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
) -> dict[str, Any]:
    if cv < 2 and forecaster is None:
        raise ValueError("give a fitted forecaster, or cv >= 2 to fit one per fold")
    rng = np.random.default_rng(seed)
    fold = rng.permutation(len(cascades)) % cv if cv >= 2 else np.zeros(len(cascades), dtype=int)
    thin_rng = np.random.default_rng(seed + 1)
    rows: list[tuple[float, ...]] = []
    # All the usual observation times: the trees learn from every one of them.
    times = sorted({*FIT_TIMES, observe})
    for k in sorted(set(fold.tolist())):
        model = forecaster
        if cv >= 2:
            model = fit([c for c, f in zip(cascades, fold, strict=True) if f != k], times=times, seed=seed)
        assert model is not None
        for c, f in zip(cascades, fold, strict=True):
            if f != k:
                continue
            x = c if thin >= 1.0 else c.thinned(thin, thin_rng)
            if x.final == 0:
                continue
            feat = Snapshot.of(x, observe)
            ours = model.predict(feat).final
            reach_now = float(x.followers[x.times <= observe].sum())
            # The original post (time 0) is always seen; the rest are reposts.
            rep_followers = reach_now - float(x.followers[0])
            rows.append(
                (
                    x.final,
                    feat.seismic.final,
                    ours,
                    float(x.followers.sum()),
                    final_reach(feat.reposts, rep_followers, reach_now, feat.seismic.final),
                    final_reach(feat.reposts, rep_followers, reach_now, ours),
                    feat.reposts,
                )
            )
    a = np.array(rows, dtype=float).reshape(-1, 7)
    true, s_pred, o_pred = a[:, 0], a[:, 1], a[:, 2]
    return {
        "cascades": len(a),
        "skipped_no_reposts": len(cascades) - len(a),
        "observe_seconds": observe,
        "final_size": {
            "min": int(true.min()),
            "median": float(np.median(true)),
            "max": int(true.max()),
        },
        "seen_at_observation_median": float(np.median(a[:, 6])),
        "protocol": (
            f"held out: {cv}-fold split by cascade (seed {seed}), forecast fitted on the other folds"
            if cv >= 2
            else f"shipped forecast ({forecaster.trained_on if forecaster else ''})"
        )
        + (f"; each repost kept with probability {thin}" if thin < 1.0 else ""),
        "size": {"seismic": _errors(s_pred, true), "flashpoint": _errors(o_pred, true)},
        "potential_reach": {"seismic": _errors(a[:, 4], a[:, 3]), "flashpoint": _errors(a[:, 5], a[:, 3])},
        "final_at_least": [
            {
                "threshold": t,
                "positives": int(np.sum(true >= t)),
                "seismic": _decision(s_pred, true, t),
                "flashpoint": _decision(o_pred, true, t),
            }
            for t in thresholds
            if np.any(true >= t) or np.any(o_pred >= t) or np.any(s_pred >= t)
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
        for name in ("seismic", "flashpoint"):
            e = result[what][name]
            extra = f"  ({e['infinite']} supercritical, out of the mean)" if e["infinite"] else ""
            lines.append(f"  {name:<20}{e['median_ape']:>12.3f}{e['mean_ape']:>12.3f}{e['p90_ape']:>12.3f}{extra}")
    lines += ["", f"{'final >= T':<22}{'positives':>10}{'SEISMIC P / R':>18}{'Flashpoint P / R':>20}"]

    def pr(d: dict[str, float | None]) -> str:
        def f(x: float | None) -> str:
            return "-" if x is None else f"{x:.2f}"

        return f"{f(d['precision'])} / {f(d['recall'])}"

    for row in result["final_at_least"]:
        t, n = row["threshold"], row["positives"]
        lines.append(f"  T = {t:<16,}{n:>10}{pr(row['seismic']):>18}{pr(row['flashpoint']):>20}")
    return "\n".join(lines)
