"""Scores of saved folds, read back without training."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from benchmarks.fold_scores import markdown, table
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


def test_the_markdown_table_has_a_column_per_domain_and_the_mean_and_worst_of_each_run() -> None:
    scores = {
        "a/shipped": {
            "domain-food": {"macro_f1": 0.7, "severity_macro_f1": 0.4},
            "domain-cars": {"macro_f1": 0.9, "severity_macro_f1": 0.5},
        },
        "a/v3": {"domain-cars": {"macro_f1": 0.8, "severity_macro_f1": 0.45}, "fold0": {"macro_f1": 0.1}},
    }
    lines = markdown(scores).splitlines()
    assert lines[0] == "| run | cars | food | mean | worst | folds |"
    assert lines[2] == "| shipped | 0.900 (0.500) | 0.700 (0.400) | 0.800 | 0.700 | 2 |"
    assert lines[3] == "| v3 | 0.800 (0.450) |  | 0.800 | 0.800 | 1 |"
