"""What the complaint model says of one post: importable without PyTorch, so the
worker's event-loop process never loads it (the model runs in a child process)."""

from __future__ import annotations

from dataclasses import dataclass

SEVERITY_LABELS = ("no explicit reproach", "disapproval", "accusation", "blame")


@dataclass(frozen=True, slots=True)
class Verdict:
    complaint_probability: float
    # 1..4 on the severity scale (see SEVERITY_LABELS); meaningful for complaints.
    severity: int
