"""Precision variants as pure code: smoothing is exact before quantisation and helps after."""

from __future__ import annotations

import copy

import torch
from torch import nn

from pipeline.classification.precision import Smoothed, activation_ranges, quantize_int8, smooth, with_precision


def _outlier_model() -> tuple[nn.Module, torch.Tensor]:
    # Two Linear layers fed by activations with a few channels 100x the rest: the case
    # smoothing exists for (MiniLM has such channels).
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 8)).eval()
    x = torch.randn(256, 64)
    x[:, :3] *= 100.0
    return model, x


def test_ranges_are_per_channel_maxima_of_each_linear_input() -> None:
    model, x = _outlier_model()
    ranges = activation_ranges(model, model, [x[:128], x[128:]])
    assert set(ranges) == {"0", "2"}
    assert torch.allclose(ranges["0"], x.abs().amax(0))


def test_smoothing_is_exact_in_float_and_halves_int8_error() -> None:
    model, x = _outlier_model()
    ref = model(x)
    ranges = activation_ranges(model, model, [x])
    plain = quantize_int8(model)
    smoothed = quantize_int8(model, ranges)
    assert any(isinstance(m, Smoothed) for m in smoothed.modules())
    err_plain = (plain(x) - ref).abs().mean()
    err_smoothed = (smoothed(x) - ref).abs().mean()
    assert err_smoothed < 0.5 * err_plain, (err_plain, err_smoothed)
    # The original is untouched.
    assert torch.equal(model(x), ref)


def test_smoothing_alone_changes_nothing() -> None:
    model, x = _outlier_model()
    ranges = activation_ranges(model, model, [x])
    smoothed = smooth(copy.deepcopy(model), ranges)
    assert sum(isinstance(m, Smoothed) for m in smoothed.modules()) == 2
    assert torch.allclose(smoothed(x), model(x), atol=1e-3)


def test_bf16_is_close() -> None:
    model, x = _outlier_model()
    ref = model(x)
    out = with_precision(copy.deepcopy(model), "bf16")(x.bfloat16()).float()
    assert (out - ref).abs().max() < 0.05 * ref.abs().max()


def test_int8_row_does_not_depend_on_the_rest_of_the_batch() -> None:
    # One scale per token: a post's verdict must not change with its batch neighbours
    # (a batch replayed after a crash would otherwise decide differently).
    model, x = _outlier_model()
    q = quantize_int8(model, activation_ranges(model, model, [x]))
    alone = q(x[:1])
    loud = torch.cat([x[:1], x[1:40] * 50.0])
    assert torch.equal(q(loud)[:1], alone)
    assert (alone - model(x[:1])).abs().max() < 0.05 * model(x[:1]).abs().max()
