"""The classification path's throughput at an earlier commit and now, on this machine.

``flashpoint bench``'s table (:func:`pipeline.classification.bench.run`) for the
deployed path at ``--rev`` (checked out into a temporary worktree, its own code and
model) and at the working tree, alternated ``--rounds`` times so the machine's drift
falls on both; the median posts per second of each cell, and after / before. Issue 31,
point 5: the deployed throughput stays within 5% of what it was before the issue's
changes. Stop other work on the machine first::

    python -m benchmarks.before_after --rev 45bfd92 --precisions fp32 \\
        --json benchmarks/results/model/before-after-<machine>.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.report import emit

ROOT = Path(__file__).resolve().parents[1]

# Run inside the tree being measured, so its own pipeline package is the one imported.
SNIPPET = """
import json, sys
from pipeline.classification import ComplaintModel
from pipeline.classification.bench import run
sizes, seconds, precisions = json.loads(sys.argv[1])
model = ComplaintModel.load("models/complaint", "cpu", "fp32")
print(json.dumps(run(model, sizes, seconds=seconds, precisions=precisions)))
"""


def measure(tree: Path, sizes: list[int], seconds: float, precisions: list[str]) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    out = subprocess.run(
        [sys.executable, "-c", SNIPPET, json.dumps([sizes, seconds, precisions])],
        cwd=tree,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def compare(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Median deployed posts/s per (precision, batch size) over the rounds, and their ratio."""

    def cells(runs: list[dict[str, Any]]) -> dict[tuple[str, int], list[float]]:
        out: dict[tuple[str, int], list[float]] = {}
        for r in runs:
            for row in r["rows"]:
                out.setdefault((row["precision"], row["batch_size"]), []).append(row["deployed_posts_per_s"])
        return out

    b, a = cells(before), cells(after)
    rows = []
    for p, bs in sorted(b):
        if (p, bs) not in a:
            continue
        mb, ma = statistics.median(b[(p, bs)]), statistics.median(a[(p, bs)])
        rows.append(
            {
                "precision": p,
                "batch_size": bs,
                "before_posts_per_s": round(mb, 1),
                "after_posts_per_s": round(ma, 1),
                "after_over_before": round(ma / mb, 3),
                # Each round's figure: how far the machine alone moves them.
                "before_rounds": b[(p, bs)],
                "after_rounds": a[(p, bs)],
            }
        )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rev", required=True, help="the earlier commit")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--batch-sizes", default="1,8,32,64,128,256")
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument(
        "--precisions",
        default="fp32",
        help="comma-separated; int8 on a CPU without int8 dot products takes many minutes a cell",
    )
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    sizes = [int(s) for s in args.batch_sizes.split(",")]
    precisions = args.precisions.split(",")
    rev = subprocess.run(["git", "rev-parse", args.rev], cwd=ROOT, check=True, capture_output=True, text=True)
    with tempfile.TemporaryDirectory(prefix="flashpoint-before-") as tmp:
        tree = Path(tmp) / "tree"
        subprocess.run(["git", "worktree", "add", "--detach", str(tree), rev.stdout.strip()], cwd=ROOT, check=True)
        try:
            before, after = [], []
            for _ in range(args.rounds):
                before.append(measure(tree, sizes, args.seconds, precisions))
                after.append(measure(ROOT, sizes, args.seconds, precisions))
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, check=False)
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    emit(
        {
            "machine": after[0]["machine"],
            "before": {"rev": args.rev, "model_version": before[0]["model_version"]},
            "after": {"rev": head.stdout.strip() + " (working tree)", "model_version": after[0]["model_version"]},
            "rounds": args.rounds,
            "deployed": compare(before, after),
        },
        args.json,
    )


if __name__ == "__main__":
    main()
