"""Severity levels 1..4 (Jin & Aletras, NAACL 2021) from a severity head's output.

Either head is read as a scale, not as four unrelated classes: the level is 1 + the
number of "worse than level k" (k = 1..3) that are more likely than not, so a post the
model believes more severe never gets a lower level, and the escalation policy's
``min_severity`` means "at least this severe, more likely than not".

- The four-class head (the shipped one, and the recipe's default) gives four class
  logits; "worse than k" is the probability of the classes above k, so its level is the
  median of the predicted distribution, not the most likely class: the same macro-F1 on
  the fine-tuned leave-one-domain-out folds (0.457 pooled, against 0.459), but blame
  is called half as often (docs/decisions/2026-12-08-severity-median.md).
- The ordinal head gives the three cumulative logits directly: one score per post and
  three ordered cut points.

Pure numpy: the fold files, the model's postprocess and the model card share it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

LEVELS = 4


def levels(logits: np.ndarray) -> np.ndarray:
    """1..4 per row of a head's output: (n, 3) cumulative logits (ordinal) or (n, 4)
    class logits (the median level)."""
    logits = np.asarray(logits)
    if logits.ndim != 2 or logits.shape[1] not in (LEVELS - 1, LEVELS):
        raise ValueError(f"severity logits must be (n, {LEVELS - 1}) or (n, {LEVELS}), got {logits.shape}")
    if logits.shape[1] == LEVELS - 1:
        return np.asarray(1 + (logits > 0).sum(axis=1), dtype=int)
    return np.asarray(1 + (worse_than(logits) > 0.5).sum(axis=1), dtype=int)


def worse_than(logits: np.ndarray) -> np.ndarray:
    """(n, 3): the probability that each post is worse than level 1, 2, 3, from the
    four-class head's logits. Never increasing along a row."""
    z = np.asarray(logits, dtype=np.float64)
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    # Summed from the top so P(worse than 3) is p4 exactly, not 1 minus a rounded sum.
    return np.cumsum(p[:, ::-1], axis=1)[:, ::-1][:, 1:]


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
