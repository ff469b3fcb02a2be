"""Scores of saved folds, read back without training."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from benchmarks.fold_scores import table
from pipeline.classification.training import Dataset


def test_each_fold_file_is_scored_from_its_own_rows(tmp_path: Path) -> None:
    data = Dataset(
        texts=[f"t{i}" for i in range(6)],
        labels=np.array([1, 1, 1, 0, 0, 1]),
        domains=["food"] * 6,
        severities=np.array([1, 4, 2, 0, 0, 3]),
    )
    run = tmp_path / "run"
    run.mkdir()
    # Rows 0, 1, 3, 5: complaint logits right on all four; the ordinal severity is right
    # for rows 0 and 1 and says 4 for row 5 (annotated 3).
    fold = {
        "test": [0, 1, 3, 5],
        "complaint_logits": [2.0, 1.0, -1.0, 3.0],
        "severity_logits": [-1, -1, -1, 1, 1, 1, 0, 0, 0, 1, 1, 1],
    }
    (run / "domain-food.json").write_text(json.dumps(fold))
    (run / "domain-food.pt").write_text("not read")
    scores = table(data, [run])[str(run)]
    assert list(scores) == ["domain-food"]
    food = scores["domain-food"]
    assert food["macro_f1"] == 1.0 and food["rows"] == 4
    assert food["severity_annotated"] == [1, 0, 1, 1] and food["severity_predicted"] == [1, 0, 0, 2]
    assert food["severity_macro_f1"] == round((1 + 0 + 2 / 3) / 3, 4)
