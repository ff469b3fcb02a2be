"""Complaint probabilities for a brand whose mix is not the training set's.

The model's probability is calibrated for the share of complaints it was trained on
(36% of ``complaints_train.csv``). A brand whose mentions are mostly complaints (an
airline's support account: 80%) or mostly not (a retailer's hashtag: 20%) has another
prior, and the same text is then more (or less) likely a complaint than the model
says. Where a brand's expected share is known (``complaint_share`` in its watchlist
policy), the probability is adjusted for it by Bayes' rule on the odds (a prior
shift: Saerens, Latinne & Decaestecker, Neural Computation 2002): the model's
likelihood ratio kept, the prior replaced. The adjustment is monotone, so it moves
decisions across a fixed threshold, never reorders posts.

Numpy only: the policy (which runs in the worker's event-loop process) and the
evaluation share it.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np


def trained_share(config_file: Path) -> float | None:
    """The share of complaints the model at ``config_file`` (its config.json) was
    trained on; None where it does not say."""
    try:
        config = json.loads(Path(config_file).read_text())
    except (OSError, ValueError):
        return None
    if isinstance(config.get("complaint_share"), (int, float)):
        return float(config["complaint_share"])
    # Models trained before the share was written down: their cross-validation's counts.
    per_class = config.get("cross_validation", {}).get("out_of_fold", {}).get("per_class", {})
    try:
        yes, no = per_class["complaint"]["support"], per_class["not_complaint"]["support"]
    except (KeyError, TypeError):
        return None
    return float(yes / (yes + no)) if yes + no else None


def prior_shift(p: float, trained_share: float | None, share: float | None) -> float:
    """``p`` (calibrated at ``trained_share``) for a population with ``share``
    complaints; unchanged when either is unknown."""
    if trained_share is None or share is None or share == trained_share:
        return p
    yes = p * share / trained_share
    no = (1.0 - p) * (1.0 - share) / (1.0 - trained_share)
    return yes / (yes + no) if yes + no > 0 else p


def prior_shift_array(p: np.ndarray, trained_share: float, share: float) -> np.ndarray:
    yes = p * share / trained_share
    no = (1.0 - p) * (1.0 - share) / (1.0 - trained_share)
    return np.asarray(yes / np.maximum(yes + no, 1e-12))


def ece(probs: np.ndarray, labels: np.ndarray, bins: int = 15) -> float:
    """Expected calibration error of P(complaint), equal-width bins."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    total = 0.0
    for lo, hi in itertools.pairwise(edges):
        in_bin = (probs > lo) & (probs <= hi) if lo > 0 else (probs >= lo) & (probs <= hi)
        if in_bin.any():
            total += in_bin.mean() * abs(probs[in_bin].mean() - labels[in_bin].mean())
    return float(total)


def at_shares(
    probs: np.ndarray,
    labels: np.ndarray,
    shares: Sequence[float] = (0.2, 0.36, 0.8),
    *,
    size: int = 2000,
    repeats: int = 20,
    seed: int = 0,
    trained_share: float | None = None,
) -> list[dict[str, Any]]:
    """ECE of held-out probabilities on populations resampled (with replacement) to
    each share of complaints, as the model says and adjusted for the share (prior
    shift from ``trained_share``, by default the share of ``labels``). Mean over
    ``repeats`` resamples of ``size`` posts; also the macro-F1 at 0.5 each way."""
    probs, labels = np.asarray(probs, dtype=float), np.asarray(labels, dtype=int)
    trained = float(labels.mean()) if trained_share is None else trained_share
    pos, neg = np.flatnonzero(labels == 1), np.flatnonzero(labels == 0)
    rng = np.random.default_rng(seed)
    out = []
    for share in shares:
        raw, shifted, f1_raw, f1_shifted = [], [], [], []
        n_pos = round(size * share)
        for _ in range(repeats):
            idx = np.concatenate([rng.choice(pos, n_pos), rng.choice(neg, size - n_pos)])
            p, y = probs[idx], labels[idx]
            q = prior_shift_array(p, trained, share)
            raw.append(ece(p, y))
            shifted.append(ece(q, y))
            f1_raw.append(_macro_f1(y, p >= 0.5))
            f1_shifted.append(_macro_f1(y, q >= 0.5))
        out.append(
            {
                "share": share,
                "ece": round(float(np.mean(raw)), 4),
                "ece_prior_shifted": round(float(np.mean(shifted)), 4),
                "macro_f1": round(float(np.mean(f1_raw)), 4),
                "macro_f1_prior_shifted": round(float(np.mean(f1_shifted)), 4),
            }
        )
    return out


def _macro_f1(y: np.ndarray, said: np.ndarray) -> float:
    scores = []
    for cls in (0, 1):
        tp = float(np.sum((said == cls) & (y == cls)))
        fp = float(np.sum((said == cls) & (y != cls)))
        fn = float(np.sum((said != cls) & (y == cls)))
        scores.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0)
    return float(np.mean(scores))
