"""The escalation policy's forecast rule, swept: false alarms against early warnings.

For each number of reposts the policy waits for before the forecast may raise a level
(``FLASHPOINT_FORECAST_MIN_REPOSTS``; the watch time stays the policy's), replays every
cascade of each file with the shipped forecast (:mod:`pipeline.reach.alarms`) and
writes the counts as JSON and a plot (issue 29, point 4)::

    python -m benchmarks.reach_policy --events A.csv.gz --events B.csv.gz \
        --json benchmarks/results/reach/policy-sweep.json --plot docs/reach-alarms.png
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from pipeline.reach.alarms import DEFAULT_THRESHOLDS, alarms
from pipeline.reach.forecast import Forecaster, read_events
from pipeline.settings import Settings

MIN_REPOSTS = (1, 2, 3, 5, 10, 20)


def sweep(events: list[Path], min_reposts: tuple[int, ...] = MIN_REPOSTS) -> dict[str, Any]:
    s = Settings.from_env()
    forecaster = Forecaster.load(s.reach_model)
    out: dict[str, Any] = {"min_seconds": s.forecast_min_seconds, "forecast": forecaster.trained_on, "datasets": {}}
    for path in events:
        cascades = read_events(path)
        name = path.parent.name
        out["datasets"][name] = {
            str(n): alarms(cascades, forecaster, DEFAULT_THRESHOLDS, min_reposts=n, min_seconds=s.forecast_min_seconds)
            for n in min_reposts
        }
        print(f"{name}: done", flush=True)
    return out


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4), dpi=120)
    for name, by_n in result["datasets"].items():
        ns = [int(n) for n in by_n]
        for i, threshold in enumerate(DEFAULT_THRESHOLDS):
            rows = [by_n[str(n)][i] for n in ns]
            label = f"{name}, {threshold:,}"
            if any(r["stay_below"] for r in rows):
                left.plot(ns, [100 * r["false_alarm_share"] for r in rows], marker="o", label=label)
            if any(r["pass_later"] for r in rows):
                early = [100 * r["escalated_early"] / r["pass_later"] for r in rows]
                right.plot(ns, early, marker="o", label=f"{label} ({rows[0]['pass_later']} pass it)")
    left.axhline(1.0, color="grey", linestyle=":", linewidth=1)
    left.set(
        xscale="log",
        xlabel="reposts before the forecast may escalate",
        ylabel="% of all cascades",
        title="false alarms (never reach the threshold)",
    )
    right.set(
        xscale="log",
        xlabel="reposts before the forecast may escalate",
        ylabel="% of those that pass it later",
        title="escalated before they passed it",
    )
    for ax in (left, right):
        ax.set_xticks(ns, [str(n) for n in ns])
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
