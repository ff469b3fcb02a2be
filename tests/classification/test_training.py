"""Training on the shared data (skips where ../shared/data is absent; runs in CI)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pipeline.classification import ComplaintModel
from pipeline.classification.training import ece, evaluate, fit_temperature, load_csv, train


def test_ece_of_perfect_and_overconfident_predictions() -> None:
    labels = np.array([0, 1, 0, 1])
    assert ece(labels.astype(float), labels) == 0.0
    assert ece(np.array([1.0, 1.0, 1.0, 1.0]), labels) == 0.5


def test_temperature_undoes_a_known_scaling() -> None:
    rng = np.random.default_rng(0)
    true_logits = rng.normal(0, 2, 20_000)
    labels = (rng.random(20_000) < 1 / (1 + np.exp(-true_logits))).astype(float)
    assert abs(fit_temperature(true_logits * 2.0, labels) - 2.0) < 0.15


@pytest.mark.training
def test_train_writes_artifact_and_card_that_load(complaints_csv: Path, tmp_path: Path) -> None:
    # The real code path on a third of the file, 3 folds: the 10-fold run on all of it
    # is `flashpoint model train`'s, measured in the model card, not a test's.
    lines = complaints_csv.read_text(encoding="utf-8").splitlines(keepends=True)
    small = tmp_path / "third.csv"
    small.write_text(lines[0] + "".join(lines[1::3]), encoding="utf-8")
    out = tmp_path / "model"
    config = train(small, out, folds=3, device="cpu")
    assert {"head.safetensors", "config.json", "MODEL_CARD.md"} <= {p.name for p in out.iterdir()}
    cv = config["cross_validation"]
    assert 0.7 < cv["macro_f1_mean"] <= 1.0
    assert json.loads((out / "config.json").read_text())["version"] == config["version"]
    model = ComplaintModel.load(out, "cpu")
    report = evaluate(model, load_csv(small))
    assert report["macro_f1"] > 0.75 and set(report["per_class"]) == {"not_complaint", "complaint"}
