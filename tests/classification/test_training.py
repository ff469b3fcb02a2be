"""Training on the shared data (skips where ../shared/data is absent; runs in CI)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pipeline.classification import ComplaintModel
from pipeline.classification.calibration import ece
from pipeline.classification.training import evaluate, fit_temperature, load_csv, train


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


def _csv(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "labelled.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_severity_as_numbers_or_the_scheme_names_and_other_columns_ignored(tmp_path: Path) -> None:
    data = load_csv(
        _csv(
            tmp_path,
            "id,text,label,severity,annotator\n"
            "1,fine,0,0,a\n"
            "2,meh,1,No explicit reproach,b\n"
            "3,bad,1,  DISAPPROVAL ,c\n"
            "4,awful,1,Accusation,d\n"
            "5,worst,1,blame,e\n"
            "6,unrated,1,,f\n"
            "7,four,1,4,g\n",
        )
    )
    assert data.labels.tolist() == [0, 1, 1, 1, 1, 1, 1]
    assert data.severities is not None and data.severities.tolist() == [0, 1, 2, 3, 4, -1, 4]
    assert data.domains == [""] * 7


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ("a,1,furious\n", "row 2: severity 'furious' is not 0-4 or one of"),
        ("a,1,2\nb,1,5\n", "row 3: severity '5' is not 0-4"),
        ("a,yes,2\n", "row 2: label must be 0 or 1, not 'yes'"),
    ],
)
def test_csv_bad_values_name_the_row_and_value(tmp_path: Path, rows: str, message: str) -> None:
    path = _csv(tmp_path, "text,label,severity\n" + rows)
    with pytest.raises(ValueError, match="row") as err:
        load_csv(path)
    assert message in str(err.value) and str(path) in str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.model
def test_evaluate_reports_severity_macro_f1_when_the_csv_has_severities(tmp_path: Path) -> None:
    from pipeline.settings import Settings

    model = ComplaintModel.load(Settings().model_dir, "cpu")
    path = _csv(
        tmp_path,
        "text,label,severity\n"
        "lovely day for a walk,0,0\n"
        '"@AcmeCustServ my widget has been broken for 5 days, disgusting!",1,Blame\n'
        "@AcmeCustServ my order is late again,1,Disapproval\n",
    )
    report = evaluate(model, load_csv(path))
    assert report["severity_rated"] == 2
    assert 0.0 <= report["severity_macro_f1"] <= 1.0
    no_severity = _csv(tmp_path, "text,label\nlovely day,0\n@AcmeCustServ broken again,1\n")
    assert "severity_macro_f1" not in evaluate(model, load_csv(no_severity))
