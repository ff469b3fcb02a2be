"""Plot one cascade's true growth against the forecasts made at 10, 30 and 60 minutes.

The cascade is the one of median final size in the file (a rule, not a pick); the
forecast shown was fitted on all the *other* cascades, so the plot is held out.

    python models/reach/plot_cascade.py --events ../shared/data/cascades/seismic-subset-tideh/events.csv.gz \
        --out docs/reach-forecast.png

Needs matplotlib (``pip install -e '.[train]'``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from pipeline.reach.fitting import fit
from pipeline.reach.forecast import Snapshot, read_events

MINUTES = (10, 30, 60)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--events", type=Path, required=True)
    ap.add_argument("--out", type=Path, default=Path("docs/reach-forecast.png"))
    args = ap.parse_args()
    cascades = sorted(read_events(args.events), key=lambda c: c.final)
    target = cascades[len(cascades) // 2]
    others = [c for c in cascades if c.id != target.id]
    forecaster = fit([others])

    minutes = np.maximum(target.times[1:] / 60, 0.05)
    end = 7 * 24 * 60.0
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=120)
    ax.step(minutes, np.arange(1, len(minutes) + 1), where="post", color="black", linewidth=1.5, label="true reposts")
    colours = ("tab:orange", "tab:blue", "tab:green")
    for m, colour in zip(MINUTES, colours, strict=True):
        t = m * 60.0
        f = Snapshot.of(target, t)
        ours = forecaster.predict(f)
        ax.plot([m], [f.reposts], "o", color=colour)
        ax.hlines(ours.final, m, end, color=colour, linewidth=2, label=f"Flashpoint at {m} min: {ours.final:,.0f}")
        ax.fill_between([m, end], ours.low, ours.high, color=colour, alpha=0.08)
        if np.isfinite(f.seismic.final):
            ax.hlines(
                f.seismic.final,
                m,
                end,
                color=colour,
                linewidth=1,
                linestyle="--",
                label=f"SEISMIC at {m} min: {f.seismic.final:,.0f}",
            )
    ax.set_xscale("log")
    ax.set_xlim(1, end)
    ax.set_ylim(0, target.final * 2.2)
    ax.set_xticks([1, 10, 30, 60, 360, 1440, end], ["1 min", "10 min", "30 min", "1 h", "6 h", "1 day", "7 days"])
    ax.set_xlabel("time after the original post (log scale)")
    ax.set_ylabel("reposts")
    ax.set_title(
        f"Cascade {target.id}: {target.final:,} reposts after 7 days; "
        "forecasts (solid, shaded 80% interval) vs SEISMIC (dashed)",
        fontsize=9,
    )
    ax.legend(loc="upper left", fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out)
    print(f"wrote {args.out} (cascade {target.id}, final {target.final})")


if __name__ == "__main__":
    main()
