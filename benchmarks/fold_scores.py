"""Per-fold scores of a fine-tuning run cut short, from the fold files it committed.

``flashpoint model evaluate --keep-folds DIR`` writes one JSON per finished fold (its
held-out rows and their complaint and severity logits). This reads them without
training anything: complaint macro-F1 and severity macro-F1 per fold, side by side
for several runs (e.g. the shipped recipe and a new one)::

    python -m benchmarks.fold_scores --data ../shared/data/complaints/complaints_train.csv \\
        benchmarks/results/model/finetune-folds benchmarks/results/model/finetune-v2-folds
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.classification.severity import levels
from pipeline.classification.training import Dataset, load_csv


def score(data: Dataset, fold: dict[str, Any]) -> dict[str, Any]:
    from sklearn.metrics import f1_score

    te = np.array(fold["test"])
    complaint = np.array(fold["complaint_logits"])
    y = data.labels[te]
    out: dict[str, Any] = {"rows": len(te), "macro_f1": round(float(f1_score(y, complaint >= 0, average="macro")), 4)}
    if data.severities is not None:
        sv = data.severities[te]
        rated = (y == 1) & (sv > 0)
        predicted = levels(np.array(fold["severity_logits"]).reshape(len(te), -1))[rated]
        out["severity_macro_f1"] = round(float(f1_score(sv[rated], predicted, average="macro")), 4)
        out["severity_predicted"] = np.bincount(predicted, minlength=5)[1:].tolist()
        out["severity_annotated"] = np.bincount(sv[rated], minlength=5)[1:].tolist()
    return out


def table(data: Dataset, runs: list[Path]) -> dict[str, dict[str, dict[str, Any]]]:
    return {
        str(run): {f.stem: score(data, json.loads(f.read_text())) for f in sorted(run.glob("*.json"))} for run in runs
    }


def markdown(scores: dict[str, dict[str, dict[str, Any]]]) -> str:
    """One row per run, one column per leave-one-domain-out fold any run has: complaint
    macro-F1 (severity macro-F1), then the mean and worst over the folds the run has."""
    domains = sorted({f.removeprefix("domain-") for run in scores.values() for f in run if f.startswith("domain-")})
    lines = [
        "| run | " + " | ".join(domains) + " | mean | worst | folds |",
        "|---" * (len(domains) + 4) + "|",
    ]
    for run, folds in scores.items():
        got = {d: folds[f"domain-{d}"] for d in domains if f"domain-{d}" in folds}
        cells = [
            f"{got[d]['macro_f1']:.3f} ({got[d].get('severity_macro_f1', 0):.3f})" if d in got else "" for d in domains
        ]
        f1 = [v["macro_f1"] for v in got.values()]
        summary = [f"{np.mean(f1):.3f}", f"{min(f1):.3f}"] if f1 else ["", ""]
        lines.append(f"| {Path(run).name} | " + " | ".join(cells + summary) + f" | {len(f1)} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--markdown", action="store_true", help="a leave-one-domain-out table instead of JSON")
    ap.add_argument("runs", type=Path, nargs="+", help="--keep-folds directories")
    args = ap.parse_args()
    scores = table(load_csv(args.data), args.runs)
    print(markdown(scores) if args.markdown else json.dumps(scores, indent=2))


if __name__ == "__main__":
    main()
