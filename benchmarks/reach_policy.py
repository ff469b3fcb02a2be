"""The escalation policy's forecast rule, swept: false alarms against early warnings.

For each ``forecast_lean`` (``FLASHPOINT_FORECAST_LEAN``: how far the forecast reach the
policy compares with its thresholds leans from the point forecast, 0, towards the top
of its 80% interval, 1), replays every cascade of each file with a forecast that has not
seen it (5-fold: fitted on the other folds and every other file, as ``reach evaluate
--cv 5 --train-also`` does) and counts false alarms and early warnings
(:mod:`pipeline.reach.alarms`); writes them as JSON and a plot (issue 29, point 4)::

    python -m benchmarks.reach_policy --events A.csv.gz --events B.csv.gz \\
        --json benchmarks/results/reach/policy-sweep.json --plot docs/reach-alarms.png
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from pipeline.reach.alarms import DEFAULT_THRESHOLDS
from pipeline.reach.alarms import sweep as alarm_sweep
from pipeline.reach.forecast import read_events
from pipeline.settings import Settings

LEANS = (0.0, 0.25, 0.5, 0.75, 1.0)


def sweep(events: list[Path], leans: tuple[float, ...] = LEANS, cv: int = 5) -> dict[str, Any]:
    s = Settings.from_env()
    data = {path: read_events(path) for path in events}
    out: dict[str, Any] = {
        "min_reposts": s.forecast_min_reposts,
        "min_seconds": s.forecast_min_seconds,
        "default_lean": s.forecast_lean,
        "protocol": f"{cv}-fold by cascade (seed 0), each fold fitted on the other folds and the other files",
        "datasets": {},
    }
    for path, cascades in data.items():
        others = [c for p, cs in data.items() if p != path for c in cs]
        rows = alarm_sweep(
            cascades,
            None,
            DEFAULT_THRESHOLDS,
            leans,
            min_reposts=s.forecast_min_reposts,
            min_seconds=s.forecast_min_seconds,
            cv=cv,
            train_also=others,
        )
        out["datasets"][path.parent.name] = {str(w): r for w, r in zip(leans, rows, strict=True)}
        print(f"{path.parent.name}: done", flush=True)
    return out


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4), dpi=120)
    for name, by_lean in result["datasets"].items():
        leans = [float(w) for w in by_lean]
        for i, threshold in enumerate(DEFAULT_THRESHOLDS):
            rows = [by_lean[w][i] for w in by_lean]
            label = f"{name}, {threshold:,}"
            if any(r["stay_below"] for r in rows):
                left.plot(leans, [100 * r["false_alarm_share"] for r in rows], marker="o", label=label)
            if any(r["pass_later"] for r in rows):
                early = [100 * r["escalated_early"] / r["pass_later"] for r in rows]
                right.plot(leans, early, marker="o", label=f"{label} ({rows[0]['pass_later']} pass it)")
    left.axhline(1.0, color="grey", linestyle=":", linewidth=1)
    lean = "forecast lean (0: point forecast, 1: top of its 80% interval; dashed: the default)"
    left.set(xlabel=lean, ylabel="% of all cascades", title="false alarms (never reach the threshold)")
    right.set(xlabel=lean, ylabel="% of those that pass it later", title="escalated before they passed it")
    for ax in (left, right):
        ax.axvline(result["default_lean"], color="grey", linestyle="--", linewidth=1)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--events", type=Path, action="append", required=True, help="cascade file (repeatable)")
    p.add_argument("--json", type=Path, required=True)
    p.add_argument("--plot", type=Path)
    args = p.parse_args(argv)
    result = sweep(args.events)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1) + "\n")
    if args.plot:
        plot(result, args.plot)
    print(f"wrote {args.json}" + (f" and {args.plot}" if args.plot else ""))


if __name__ == "__main__":
    main()
