from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pipeline.classification.calibration import at_shares, ece, prior_shift, prior_shift_array, trained_share


def test_prior_shift_is_bayes_on_the_odds() -> None:
    # Odds 1:1 at a 50% prior carry a likelihood ratio of 1: at 80% the probability is 80%.
    assert prior_shift(0.5, 0.5, 0.8) == pytest.approx(0.8)
    assert prior_shift(0.36, 0.36, 0.2) == pytest.approx(0.2)
    assert prior_shift(0.9, 0.36, None) == 0.9 and prior_shift(0.9, None, 0.8) == 0.9
    assert prior_shift(1.0, 0.36, 0.1) == 1.0 and prior_shift(0.0, 0.36, 0.9) == 0.0
    p = np.linspace(0.01, 0.99, 50)
    shifted = prior_shift_array(p, 0.36, 0.8)
    assert np.all(np.diff(shifted) > 0), "monotone: decisions move, order does not"
    assert shifted == pytest.approx([prior_shift(x, 0.36, 0.8) for x in p])


def test_a_population_with_another_share_is_calibrated_again_by_the_shift() -> None:
    # Labels drawn from perfectly calibrated probabilities at a 36% share: resampled to
    # 80% complaints, the raw probabilities are far off and the shifted ones close.
    rng = np.random.default_rng(1)
    logits = rng.normal(-0.9, 2.5, 20_000)
    probs = 1 / (1 + np.exp(-logits))
    labels = (rng.random(len(probs)) < probs).astype(int)
    rows = {r["share"]: r for r in at_shares(probs, labels, (0.2, float(labels.mean()), 0.8), repeats=5)}
    assert rows[0.8]["ece"] > 0.1 and rows[0.8]["ece_prior_shifted"] < 0.05
    assert rows[0.2]["ece_prior_shifted"] < rows[0.2]["ece"]
    middle = rows[float(labels.mean())]
    assert middle["ece"] == middle["ece_prior_shifted"], "at the training share the shift changes nothing"
    assert ece(probs, labels) < 0.03


def test_the_models_training_share_is_read_from_its_config(tmp_path: Path) -> None:
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps({"complaint_share": 0.25}))
    assert trained_share(cfg) == 0.25
    support = {"complaint": {"support": 987}, "not_complaint": {"support": 1763}}
    cfg.write_text(json.dumps({"cross_validation": {"out_of_fold": {"per_class": support}}}))
    assert trained_share(cfg) == pytest.approx(987 / 2750)
    cfg.write_text("{}")
    assert trained_share(cfg) is None
    assert trained_share(tmp_path / "missing.json") is None
