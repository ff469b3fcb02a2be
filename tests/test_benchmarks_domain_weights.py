"""The control-group weighting study on synthetic embeddings: the real code, no model."""

from __future__ import annotations

import numpy as np

from benchmarks.domain_weights import RHOS, run
from pipeline.classification.training import Dataset


def _data(seed: int = 0) -> tuple[np.ndarray, Dataset]:
    rng = np.random.default_rng(seed)
    domains = ["apparel", "cars", "food"] * 40 + ["random_tweet"] * 120
    labels = np.array([int(rng.random() < 0.6) for _ in range(120)] + [0] * 120)
    x = rng.normal(size=(240, 8))
    # Complaints lean one way; the control rows sit far off on another axis, so they
    # pull the boundary without saying anything about brand traffic.
    x[:, 0] += labels * 1.5
    x[120:, 1] += 4.0
    texts = [f"post {i}" for i in range(240)]
    return x, Dataset(texts=texts, labels=labels, domains=domains, severities=None)


def test_every_weight_is_judged_on_each_brand_domain_and_the_nested_choice_is_one_of_them() -> None:
    x, data = _data()
    report = run(x, data)
    for rho in RHOS:
        table = report["leave_one_domain_out"][str(rho)]
        assert set(table["per_domain"]) == {"apparel", "cars", "food"}
        assert table["worst"] == min(table["per_domain"].values())
    assert set(report["nested_choice"]["chosen_rho"].values()) <= set(RHOS)
    strat = report["stratified_10_fold"]
    assert set(strat) == {str(r) for r in RHOS}
    # Trained without them (rho 0), the control rows are never seen as "not a complaint".
    assert strat["0.0"]["control_rows_flagged"] > strat["1.0"]["control_rows_flagged"]
