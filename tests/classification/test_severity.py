"""Severity levels from either head, and the ordinal head's training and export."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from pipeline.classification.finetune import FinetuneConfig, Ordinal, _fold_identity, ordinal_loss, severity_tensors
from pipeline.classification.severity import balanced_weights, confusion, levels, worse_than


def test_ordinal_level_counts_the_cumulative_logits_it_believes() -> None:
    cumulative = np.array([[-1.0, -2.0, -3.0], [0.5, -0.1, -2.0], [3.0, 2.0, 0.1], [1.0, 0.5, -0.5]])
    assert levels(cumulative).tolist() == [1, 2, 4, 3]


def test_multinomial_level_is_the_median_of_the_four_classes() -> None:
    p = np.array([[0.1, 0.6, 0.2, 0.1], [0.02, 0.03, 0.05, 0.9], [0.4, 0.05, 0.05, 0.5], [0.45, 0.0, 0.1, 0.45]])
    # The third row's most likely class is 4, but "worse than 2" is only 0.55 likely
    # and "worse than 3" 0.5: the median is 3.
    assert levels(np.log(p + 1e-12)).tolist() == [2, 4, 3, 3]
    assert np.allclose(worse_than(np.log(p[:1])), [[0.9, 0.3, 0.1]])


def test_moving_belief_up_the_scale_never_lowers_the_multinomial_level() -> None:
    rng = np.random.default_rng(3)
    for _ in range(500):
        p = rng.dirichlet(np.ones(4))
        k = int(rng.integers(0, 3))
        moved = p.copy()
        delta = p[k] * rng.uniform()
        moved[k] -= delta
        moved[k + 1] += delta
        before, after = levels(np.log(np.stack([p, moved]) + 1e-12))
        assert after >= before


@pytest.mark.parametrize("shape", [(2, 2), (2, 5), (4,)])
def test_other_shapes_are_refused(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="severity logits"):
        levels(np.zeros(shape))


def test_balanced_weights_make_each_level_weigh_the_same() -> None:
    sev = np.array([1] * 6 + [2] * 3 + [3] * 2 + [4] * 1)
    w = balanced_weights(sev)
    totals = [w[k - 1] * np.sum(sev == k) for k in range(1, 5)]
    assert np.allclose(totals, totals[0])
    assert balanced_weights(np.array([1, 1]))[1:].tolist() == [0.0, 0.0, 0.0]


def test_confusion_rows_are_annotated_columns_predicted() -> None:
    m = confusion([1, 1, 2, 4], [1, 3, 2, 3])
    assert m[0] == [1, 0, 1, 0] and m[1] == [0, 1, 0, 0] and m[3] == [0, 0, 1, 0]
    with pytest.raises(ValueError, match=r"1\.\.4"):
        confusion([0], [1])


def test_the_ordinal_head_learns_a_ranking_and_exports_what_inference_reads() -> None:
    torch.manual_seed(0)
    # Severity grows along the first axis of a 16-dimensional embedding.
    n = 400
    level = torch.randint(1, 5, (n,))
    x = torch.randn(n, 16) * 0.05
    x[:, 0] = level.float() / 10.0 + torch.randn(n) * 0.01
    head = Ordinal(16)
    opt = torch.optim.Adam(head.parameters(), lr=0.05)
    weight = torch.tensor(balanced_weights(level.numpy()), dtype=torch.float32)
    for _ in range(300):
        loss = ordinal_loss(head(x * 10.0), level, weight)
        opt.zero_grad()
        loss.backward()
        opt.step()
    cuts = head.cuts().detach()
    assert torch.all(cuts[1:] > cuts[:-1])
    # Inference: emb @ weight.T + bias on the unscaled embedding, as ComplaintModel does.
    t = severity_tensors(head)
    assert t["severity.weight"].shape == (1, 16) and t["severity.bias"].shape == (3,)
    cumulative = x @ t["severity.weight"].T + t["severity.bias"]
    assert torch.allclose(cumulative, head(x * 10.0).detach(), atol=1e-5)
    predicted = levels(cumulative.numpy())
    assert (predicted == level.numpy()).mean() > 0.9
    # Monotone: along the severity axis the level never drops.
    ramp = torch.zeros(50, 16)
    ramp[:, 0] = torch.linspace(0.0, 0.5, 50)
    along = levels((ramp @ t["severity.weight"].T + t["severity.bias"]).numpy())
    assert np.all(np.diff(along) >= 0) and along[0] == 1 and along[-1] == 4


def test_a_multinomial_head_exports_four_classes() -> None:
    head = torch.nn.Linear(16, 4)
    t = severity_tensors(head)
    assert t["severity.weight"].shape == (4, 16) and t["severity.bias"].shape == (4,)


def test_folds_saved_before_the_ordinal_head_still_resume_under_the_multinomial_recipe() -> None:
    assert "severity_head" not in _fold_identity(FinetuneConfig(), None, "domain")
    ordinal = dataclasses.replace(FinetuneConfig(), severity_head="ordinal")
    assert _fold_identity(ordinal, None)["severity_head"] == "ordinal"


@pytest.mark.parametrize(
    ("change", "message"),
    [({"severity_head": "softmax"}, "severity_head"), ({"chatter_weight": -0.1}, "chatter_weight")],
)
def test_a_recipe_with_an_unknown_head_or_a_negative_weight_is_refused(change: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(FinetuneConfig(), **change)  # type: ignore[arg-type]
