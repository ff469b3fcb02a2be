"""Inference precision for the encoder: fp32, bf16 or int8.

- bf16 halves memory traffic and uses the CPU's bf16 instructions where it has them
  (AVX512-BF16, AMX); embeddings stay within about 1% of fp32.
- int8 quantises every Linear layer's weights per output channel and its inputs per
  token at run time (:class:`Int8Linear`), after SmoothQuant-style smoothing (Xiao et
  al., ICML 2023): MiniLM's activations have a few channels far larger than the rest,
  and one int8 scale per token would spend its range on them. Each Linear input is
  divided by a per-channel factor and the weight's columns multiplied by it (exact in
  real arithmetic), which moves that range from activations, quantised coarsely at run
  time, into weights, quantised per channel. The factors come from activation ranges
  recorded on training text and ship with the model (``smoothing.safetensors``).
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any, cast

import torch
from torch import nn

log = logging.getLogger(__name__)

PRECISIONS = ("auto", "fp32", "bf16", "int8")
# Migration strength: 0 leaves activations alone, 1 moves all their range into weights.
# 0.7 had the smallest int8 error on MiniLM embeddings (0.5..1.0 tried).
SMOOTHING_ALPHA = 0.7


def bf16_native() -> bool:
    """Whether this CPU has bf16 matrix instructions (otherwise bf16 is emulated, slow)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


# int8 becomes the CPU default for a model whose cross-validated macro-F1 in int8 is
# within this of fp32's (the bar of issue 3: half a point).
INT8_MAX_F1_DROP = 0.005


def int8_measured_ok(config: dict[str, Any]) -> bool:
    """Whether the artifact's own cross-validation shows int8 costs at most half a point."""
    cv = config.get("cross_validation", {})
    int8 = cv.get("macro_f1_by_precision", {}).get("int8")
    return int8 is not None and "macro_f1_mean" in cv and int8 >= cv["macro_f1_mean"] - INT8_MAX_F1_DROP


def resolve_precision(
    precision: str, device: torch.device, int8_ok: bool = False, speed: Callable[[str], float] | None = None
) -> str:
    """``auto``: fp32 on a GPU. On a CPU the fastest, as measured here by ``speed``
    (default :func:`kernel_seconds`), of fp32, bf16 where the CPU has it natively, and
    int8 when ``int8_ok`` (the model was measured in int8 and lost at most half a point
    of macro-F1); fp32 unless another is at least ``CLEARLY_FASTER`` times as fast."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    if precision == "auto":
        if device.type != "cpu":
            return "fp32"
        candidates = (["int8"] if int8_ok else []) + (["bf16"] if bf16_native() else []) + ["fp32"]
        if len(candidates) == 1:
            return "fp32"
        timed = {p: (speed or kernel_seconds)(p) for p in candidates}
        # fp32 unless clearly beaten: on a CPU where two precisions time about the same,
        # a near tie must not flip between restarts (a replayed batch would then be
        # decided in other arithmetic than the first time).
        chosen = min(candidates, key=lambda p: timed[p] * (1.0 if p == "fp32" else CLEARLY_FASTER))
        log.info(
            "precision auto: %s (one MiniLM-sized Linear: %s)",
            chosen,
            ", ".join(f"{p} {t * 1000:.2f} ms" for p, t in timed.items()),
        )
        return chosen
    if precision == "int8" and device.type != "cpu":
        raise ValueError("int8 inference runs on CPU only; use precision fp32 or bf16 on a GPU")
    return precision


# How much faster than fp32 another precision must time for auto to take it.
CLEARLY_FASTER = 1.25
# Rows (tokens) x inputs x outputs: MiniLM's widest Linear (the feed-forward's first) on
# a batch of short posts.
_PROBE_SHAPE = (128, 384, 1536)


@functools.cache
def kernel_seconds(precision: str) -> float:
    """Seconds one MiniLM-sized Linear takes in ``precision`` on this CPU (best of three
    calls after a warm-up; under a second in all). Measured, not inferred from the CPU's
    flags: int8 runs on ``torch._int_mm``, fast where the CPU has int8 dot products
    (AVX512-VNNI, AMX) and without them a reference loop. On an AVX2-only AMD EPYC it
    took 52 times as long as fp32 and ``auto``, choosing int8 by accuracy alone, held
    the model to 4 posts a second."""
    rows, n_in, n_out = _PROBE_SHAPE
    # Own generator and no default initialisation: the probe must not move the global
    # random state that seeded training relies on.
    gen = torch.Generator().manual_seed(0)
    linear = nn.utils.skip_init(nn.Linear, n_in, n_out)  # type: ignore[no-untyped-call]
    with torch.no_grad():
        linear.weight.copy_(torch.randn(n_out, n_in, generator=gen) * 0.05)
        linear.bias.zero_()
    x = torch.randn(rows, n_in, generator=gen)
    # In a Sequential: quantize_int8 replaces a model's Linear children, not the model.
    layer = with_precision(nn.Sequential(linear), precision)
    if precision == "bf16":
        x = x.to(torch.bfloat16)
    best = float("inf")
    with torch.inference_mode():
        layer(x)
        for _ in range(3):
            start = time.perf_counter()
            layer(x)
            best = min(best, time.perf_counter() - start)
    return best


class Smoothed(nn.Module):
    """``linear(x / s)`` with the linear's weight columns already multiplied by ``s``."""

    inv_scale: torch.Tensor

    def __init__(self, inv_scale: torch.Tensor, linear: nn.Module) -> None:
        super().__init__()
        self.register_buffer("inv_scale", inv_scale)
        self.linear = linear

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return cast(torch.Tensor, self.linear(x * self.inv_scale))


@torch.no_grad()
def activation_ranges(model: nn.Module, run: Callable[[Any], Any], batches: Iterable[Any]) -> dict[str, torch.Tensor]:
    """Largest absolute input per channel of every Linear layer over ``batches``."""
    ranges: dict[str, torch.Tensor] = {}
    hooks = []
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear):

            def hook(_m: nn.Module, inputs: tuple[torch.Tensor, ...], _out: Any, name: str = name) -> None:
                x = inputs[0].detach().abs().reshape(-1, inputs[0].shape[-1]).amax(0).float().cpu()
                ranges[name] = torch.maximum(ranges[name], x) if name in ranges else x

            hooks.append(module.register_forward_hook(hook))
    try:
        for batch in batches:
            run(batch)
    finally:
        for h in hooks:
            h.remove()
    return ranges


@torch.no_grad()
def smooth(model: nn.Module, ranges: dict[str, torch.Tensor]) -> nn.Module:
    """Wrap each Linear that has a recorded range in :class:`Smoothed`, in place. The
    function the model computes is unchanged (up to float rounding)."""
    for parent_name, parent in list(model.named_modules()):
        for child_name, child in list(parent.named_children()):
            name = f"{parent_name}.{child_name}" if parent_name else child_name
            if isinstance(child, nn.Linear) and name in ranges:
                w = child.weight.abs().amax(0).float().clamp(min=1e-5)
                a = ranges[name].to(w.device).clamp(min=1e-5)
                s = (a.pow(SMOOTHING_ALPHA) / w.pow(1 - SMOOTHING_ALPHA)).clamp(min=1e-5)
                child.weight.mul_(s.to(child.weight.dtype))
                setattr(parent, child_name, Smoothed((1.0 / s).to(child.weight.dtype), child))
    return model


class Int8Linear(nn.Module):
    """A Linear in int8: weights quantised once per output channel, inputs at run time
    per row (per token), multiplied in exact int32 arithmetic (``torch._int_mm``).

    Per row, not per tensor (PyTorch's dynamic quantisation): a token's result then
    depends on that token alone, never on the other posts that share its batch. With one
    scale per batch, a post's complaint severity could change with its neighbours, and a
    batch replayed after a crash could decide differently from the first time.
    """

    weight_t: torch.Tensor
    weight_scale: torch.Tensor
    bias: torch.Tensor | None

    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        w = linear.weight.detach().float()
        scale = (w.abs().amax(1) / 127.0).clamp(min=1e-12)
        q = torch.round(w / scale[:, None]).clamp(-127, 127).to(torch.int8)
        self.register_buffer("weight_t", q.t().contiguous())
        self.register_buffer("weight_scale", scale)
        self.register_buffer("bias", None if linear.bias is None else linear.bias.detach().float().clone())
        self.in_features, self.out_features = linear.in_features, linear.out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        rows = x.reshape(-1, shape[-1]).float()
        scale = rows.abs().amax(1, keepdim=True).clamp_(min=1e-12).div_(127.0)
        # |rows / scale| <= 127 by construction: no clamp needed.
        q = torch.round(rows / scale).to(torch.int8)
        out = torch._int_mm(q, self.weight_t).float().mul_(scale).mul_(self.weight_scale)
        if self.bias is not None:
            out.add_(self.bias)
        return out.reshape(*shape[:-1], self.out_features)


def quantize_int8(model: nn.Module, ranges: dict[str, torch.Tensor] | None = None) -> nn.Module:
    """An int8 copy of ``model`` (every Linear an :class:`Int8Linear`), smoothed first
    when ``ranges`` are given (the original is left as it was)."""
    import copy

    model = copy.deepcopy(model)
    if ranges:
        smooth(model, ranges)
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.Linear):
                setattr(parent, name, Int8Linear(child))
    return model


def with_precision(model: nn.Module, precision: str, ranges: dict[str, torch.Tensor] | None = None) -> nn.Module:
    """``model`` at ``precision``: a new module for bf16 and int8 (``model`` is left as it
    was), ``model`` itself for fp32."""
    if precision == "int8":
        return quantize_int8(model, ranges)
    if precision == "bf16":
        import copy

        return copy.deepcopy(model).to(torch.bfloat16)
    return model
