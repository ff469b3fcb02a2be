"""Severity levels 1..4 (Jin & Aletras, NAACL 2021) from a severity head's output.

Two heads exist. The shipped one is ordinal: one score per post and three ordered cut
points, giving three cumulative logits ("worse than level k", k = 1..3). Its level is
1 + the number of those it believes, so a post with more evidence of severity never
gets a lower level: the escalation policy's ``min_severity`` and its "blame" upgrade
read a scale, not four unrelated classes. The older head has four class logits and
takes the most likely; artifacts trained before the ordinal head still load.

Pure numpy: the fold files, the model's postprocess and the model card share it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

LEVELS = 4


def levels(logits: np.ndarray) -> np.ndarray:
    """1..4 per row of a head's output: (n, 3) cumulative logits (ordinal) or (n, 4)
    class logits."""
    logits = np.asarray(logits)
    if logits.ndim != 2 or logits.shape[1] not in (LEVELS - 1, LEVELS):
        raise ValueError(f"severity logits must be (n, {LEVELS - 1}) or (n, {LEVELS}), got {logits.shape}")
    if logits.shape[1] == LEVELS - 1:
        return np.asarray(1 + (logits > 0).sum(axis=1), dtype=int)
    return np.asarray(1 + logits.argmax(axis=1), dtype=int)


def balanced_weights(severities: np.ndarray) -> np.ndarray:
    """Per level 1..4, n / (4 * count): each level weighs the same in the loss, as
    macro-F1 weighs them. Blame and accusation are half as common as the other two,
    and unweighted training all but stops predicting them."""
    counts = np.bincount(np.asarray(severities, dtype=int) - 1, minlength=LEVELS).astype(float)
    if counts.sum() == 0:
        return np.ones(LEVELS)
    return np.where(counts > 0, counts.sum() / (LEVELS * np.maximum(counts, 1.0)), 0.0)


def confusion(true: Sequence[int] | np.ndarray, predicted: Sequence[int] | np.ndarray) -> list[list[int]]:
    """Counts, rows the annotated level 1..4, columns the predicted one."""
    out = np.zeros((LEVELS, LEVELS), dtype=int)
    for t, p in zip(np.asarray(true, dtype=int), np.asarray(predicted, dtype=int), strict=True):
        if not (1 <= t <= LEVELS and 1 <= p <= LEVELS):
            raise ValueError(f"severity levels are 1..{LEVELS}, got annotated {t}, predicted {p}")
        out[t - 1, p - 1] += 1
    return out.tolist()
