"""Does the control group help or hurt on brand domains nobody trained on? (issue 31, point 1)

``complaints_train.csv`` has 1,165 control rows (``random_tweet``, ``random_reply``),
every one "not a complaint": two thirds of the negatives. This fits the frozen-encoder
baseline's complaint head (logistic regression on the packaged MiniLM's embeddings,
C=1) with the control rows weighted ``rho`` (and complaints and the rest weighing the
same in total), and reports for each ``rho``:

- leave-one-domain-out macro-F1 per brand domain, its mean and worst;
- a nested choice of ``rho``: for each judged domain, the ``rho`` with the best mean
  over the other eight domains held out one at a time (nothing from the judged domain);
- the stratified 10 folds: macro-F1 on all rows, on the brand rows, and the share of
  control rows flagged as complaints (chatter that would reach the policy);
- the same leave-one-domain-out table with the probability shifted to the training
  brand rows' share of complaints (a prior shift, pipeline/classification/calibration.py).

It measures the frozen baseline: minutes, not the hours a fine-tuned table takes, to
choose what the fine-tuned recipe tries (``flashpoint model evaluate --chatter-weight``)::

    python -m benchmarks.domain_weights --data ../shared/data/complaints/complaints_train.csv \\
        --json benchmarks/results/model/frozen-domain-weights-<machine>.json
"""

from __future__ import annotations

import argparse
import math
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.report import emit
from pipeline.classification.bench import cpu_name
from pipeline.classification.model import Encoder, pick_device
from pipeline.classification.training import BRAND_DOMAINS, Dataset, control_rows, load_csv, splits

RHOS = (1.0, 0.3, 0.1, 0.0)


def _fit(x: np.ndarray, y: np.ndarray, chatter: np.ndarray, rho: float) -> Any:
    from sklearn.linear_model import LogisticRegression

    keep = ~chatter if rho == 0 else np.ones(len(y), dtype=bool)
    w = np.where(chatter, rho, 1.0)[keep]
    yk = y[keep]
    for c in (0, 1):
        w[yk == c] *= len(yk) / 2 / w[yk == c].sum()
    return LogisticRegression(C=1.0, max_iter=2000).fit(x[keep], yk, sample_weight=w)


def _f1(y: np.ndarray, z: np.ndarray) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score(y, (z >= 0).astype(int), average="macro"))


def run(x: np.ndarray, data: Dataset) -> dict[str, Any]:
    y = data.labels
    dom = np.array(data.domains)
    chatter = control_rows(data)
    brand_names = sorted(set(data.domains) & BRAND_DOMAINS)
    lodo: dict[float, dict[str, float]] = {r: {} for r in RHOS}
    shifted: dict[str, float] = {}
    nested: dict[str, dict[str, float]] = {}
    for name, tr, te in splits(data, 10, 13, "domain"):
        for rho in RHOS:
            clf = _fit(x[tr], y[tr], chatter[tr], rho)
            z = clf.decision_function(x[te])
            lodo[rho][name] = _f1(y[te], z)
            if rho == 1.0:
                # The fit weighs both classes the same (an even prior): shift to the
                # share of complaints among the training folds' brand rows.
                share = float(y[tr][~chatter[tr]].mean())
                shifted[name] = _f1(y[te], z + math.log(share / (1 - share)))
        inner = {}
        for rho in RHOS:
            scores = []
            for other in brand_names:
                if other == name:
                    continue
                itr, ite = tr[dom[tr] != other], tr[dom[tr] == other]
                scores.append(_f1(y[ite], _fit(x[itr], y[itr], chatter[itr], rho).decision_function(x[ite])))
            inner[rho] = float(np.mean(scores))
        best = max(RHOS, key=lambda r: inner[r])
        nested[name] = {"rho": best, "macro_f1": lodo[best][name]}
    stratified = {}
    for rho in RHOS:
        f_all, f_brand, flagged = [], [], []
        for _, tr, te in splits(data, 10, 13, None):
            z = _fit(x[tr], y[tr], chatter[tr], rho).decision_function(x[te])
            f_all.append(_f1(y[te], z))
            b = ~chatter[te]
            f_brand.append(_f1(y[te][b], z[b]))
            flagged.append(float((z[~b] >= 0).mean()))
        stratified[str(rho)] = {
            "macro_f1_all_rows": round(float(np.mean(f_all)), 4),
            "macro_f1_brand_rows": round(float(np.mean(f_brand)), 4),
            "control_rows_flagged": round(float(np.mean(flagged)), 4),
        }

    def table(scores: dict[str, float]) -> dict[str, Any]:
        worst = min(scores, key=lambda k: scores[k])
        return {
            "per_domain": {k: round(v, 4) for k, v in scores.items()},
            "mean": round(float(np.mean(list(scores.values()))), 4),
            "worst_domain": worst,
            "worst": round(scores[worst], 4),
        }

    return {
        "method": "frozen MiniLM + logistic regression (C=1), control rows weighted rho",
        "leave_one_domain_out": {str(r): table(lodo[r]) for r in RHOS},
        "leave_one_domain_out_prior_shift_to_brand_share": table(shifted),
        "nested_choice": {
            "chosen_rho": {k: v["rho"] for k, v in nested.items()},
            **table({k: v["macro_f1"] for k, v in nested.items()}),
        },
        "stratified_10_fold": stratified,
    }


def main() -> None:
    warnings.filterwarnings("ignore", category=UserWarning)
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    data = load_csv(args.data)
    x = Encoder(pick_device("cpu")).embed(data.texts).float().cpu().numpy()
    report = {
        "machine": {"cpu": cpu_name(), "date": datetime.now(UTC).strftime("%Y-%m-%d")},
        **run(x, data),
    }
    emit(report, args.json)


if __name__ == "__main__":
    main()
