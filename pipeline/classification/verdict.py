"""What the complaint model says of one post: importable without PyTorch, so the
worker's event-loop process never loads it (the model runs in a child process)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

SEVERITY_LABELS = ("no explicit reproach", "disapproval", "accusation", "blame")


@dataclass(frozen=True, slots=True)
class Verdict:
    complaint_probability: float
    # 1..4 on the severity scale (see SEVERITY_LABELS); meaningful for complaints.
    severity: int
    # The encoder's unit routing embedding of the post: topic routing reads it
    # (pipeline/classification/topics.py). Not compared: two verdicts are equal on what they say.
    embedding: np.ndarray | None = field(default=None, compare=False, repr=False)
