"""Training on the shared data (skips where ../shared/data is absent; runs in CI)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pipeline.classification import ComplaintModel
from pipeline.classification.calibration import ece
from pipeline.classification.training import (
    Dataset,
    by_domain_summary,
    cross_validate,
    evaluate,
    fit_temperature,
    load_csv,
    splits,
    train,
)


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
    # The frozen baseline's severity head is the 4-class one; its confusion is in the card.
    assert cv["severity_head"] == "multinomial" and "| 4 blame |" in (out / "MODEL_CARD.md").read_text()
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


def _dataset(domains: list[str]) -> Dataset:
    labels = np.array([i % 2 for i in range(len(domains))])
    return Dataset([f"post {i}" for i in range(len(domains))], labels, domains, None)


def test_leave_one_domain_out_judges_each_brand_domain_on_its_own() -> None:
    domains = ["cars"] * 6 + ["food"] * 6 + ["software"] * 6 + ["random_tweet"] * 6
    folds = splits(_dataset(domains), 10, by="domain")
    assert [name for name, _, _ in folds] == ["cars", "food", "software"], "control groups are never judged"
    for name, tr, te in folds:
        assert {domains[i] for i in te} == {name}
        assert name not in {domains[i] for i in tr}
        assert set(tr) | set(te) == set(range(len(domains))), "every other row trains, random tweets too"


def test_stratified_folds_are_the_default_and_unknown_groupings_are_refused() -> None:
    data = _dataset(["cars"] * 20)
    folds = splits(data, 5)
    assert [n for n, _, _ in folds] == [f"fold {k}" for k in range(1, 6)]
    assert sorted(i for _, _, te in folds for i in te) == list(range(20))
    with pytest.raises(ValueError, match="only 'domain'"):
        splits(data, 5, by="brand")
    with pytest.raises(ValueError, match="at least two brand domains"):
        splits(data, 5, by="domain")


def test_the_domain_table_has_its_mean_and_worst() -> None:
    got = by_domain_summary(["cars", "food"], [0.8, 0.7])
    assert got == {
        "per_domain_macro_f1": {"cars": 0.8, "food": 0.7},
        "domain_macro_f1_mean": 0.75,
        "worst_domain": "food",
        "worst_domain_macro_f1": 0.7,
    }


def test_frozen_cross_validation_by_domain_reports_the_table(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    domains = ["cars"] * 40 + ["food"] * 40 + ["random_tweet"] * 20
    data = _dataset(domains)
    x = rng.normal(size=(100, 8)) + data.labels[:, None] * 1.5  # separable enough
    result = cross_validate(x, data, by="domain")
    assert result["by"] == "domain" and result["folds"] == 2
    assert set(result["per_domain_macro_f1"]) == {"cars", "food"}
    assert result["worst_domain"] in {"cars", "food"} and 0.5 < result["domain_macro_f1_mean"] <= 1.0
    assert result["out_of_fold"]["n"] == 80, "only the judged domains' rows"
    assert [r["share"] for r in result["at_complaint_shares"]] == [0.2, 0.36, 0.8]
