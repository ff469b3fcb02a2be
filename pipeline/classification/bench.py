"""``flashpoint bench``: classification throughput on the machine at hand.

For each batch size and precision (fp32; bf16 where the CPU has it natively; int8,
smoothed dynamic quantisation, see :mod:`pipeline.classification.precision`) it times
the bare encoder forward pass on pre-tokenised, padded input and the deployed path
(normalise, tokenise, length-bucketed forward passes, heads, postprocess), and reports
posts per second, milliseconds per batch and the deployed path's share of the bare
throughput.
"""

from __future__ import annotations

import os
import platform
import random
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch

from pipeline.classification.model import ComplaintModel
from pipeline.classification.precision import bf16_native, with_precision

_OPENERS = ["@AcmeCustServ", "@NorthwindAir", "Hey @GlobexCares", "#UmbrellaBank", "So", "Wow,", "Honestly"]
_MIDDLES = [
    "my widget has been broken for 5 days",
    "thanks for the quick replacement, brilliant service",
    "what time does the store open on Sunday",
    "cancelled my flight with two hours' notice and lost my luggage",
    "the app is down again and I can't log in to pay rent",
    "loving the new update, works like a charm",
    "been on hold for two hours and still no refund",
]
_ENDINGS = ["", " disgusting!", " :)", " #fail", " https://t.co/abc123", " Please help.", " again!!!"]


def sample_posts(n: int, seed: int = 0) -> list[str]:
    """Tweet-like texts of realistic, varied length (about 10 to 60 tokens)."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        parts = [rng.choice(_OPENERS), rng.choice(_MIDDLES)]
        if rng.random() < 0.5:
            parts.append("and " + rng.choice(_MIDDLES))
        out.append(" ".join(parts) + rng.choice(_ENDINGS))
    return out


def at_precision(model: ComplaintModel, precision: str, ranges: dict[str, torch.Tensor] | None) -> ComplaintModel:
    """The same fp32 model with its encoder in another precision (the original untouched)."""
    import copy

    q = copy.copy(model)
    q.encoder = copy.copy(model.encoder)
    q.encoder.model = with_precision(model.encoder.model, precision, ranges)
    q.encoder.precision = precision
    return q


def _time(fn: Callable[[], Any], min_seconds: float, min_runs: int = 3) -> float:
    fn()  # warm-up
    runs, start = 0, time.perf_counter()
    while runs < min_runs or time.perf_counter() - start < min_seconds:
        fn()
        runs += 1
    return (time.perf_counter() - start) / runs


def run(
    model: ComplaintModel,
    batch_sizes: Sequence[int],
    seconds: float = 2.0,
    precisions: Sequence[str] = ("fp32", "bf16", "int8"),
) -> dict[str, Any]:
    """``model`` is the fp32 model; the other precisions are derived from it."""
    ranges = model.encoder.ranges
    rows = []
    for precision in precisions:
        if precision == "int8" and model.encoder.device.type != "cpu":
            continue
        if precision == "bf16" and model.encoder.device.type == "cpu" and not bf16_native():
            continue
        m = model if precision == "fp32" else at_precision(model, precision, ranges)
        for bs in batch_sizes:
            texts = sample_posts(bs, seed=bs)
            batch = m.preprocess(texts)

            def bare(batch: Any = batch, m: ComplaintModel = m) -> None:
                with torch.inference_mode():
                    m.encoder.forward(batch)

            def deployed(texts: list[str] = texts, m: ComplaintModel = m, bs: int = bs) -> None:
                m.predict(texts, batch_size=bs)

            t_bare = _time(bare, seconds)
            t_dep = _time(deployed, seconds)
            rows.append(
                {
                    "precision": precision,
                    "batch_size": bs,
                    "bare_posts_per_s": round(bs / t_bare, 1),
                    "deployed_posts_per_s": round(bs / t_dep, 1),
                    "bare_ms_per_batch": round(t_bare * 1000, 2),
                    "deployed_ms_per_batch": round(t_dep * 1000, 2),
                    "deployed_share_of_bare": round(t_bare / t_dep, 3),
                }
            )
    return {
        "machine": {
            "cpu": cpu_name(),
            "cores": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "device": str(model.encoder.device),
            "torch": torch.__version__,
        },
        "model_version": model.version,
        "rows": rows,
    }


def cpu_name() -> str:
    """The CPU's model name: figures are compared only within one machine kind."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def table(result: dict[str, Any]) -> str:
    head = "| precision | batch | bare posts/s | deployed posts/s | bare ms/batch | deployed ms/batch | deployed/bare |"
    lines = [head, "|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        lines.append(
            f"| {r['precision']} | {r['batch_size']} | {r['bare_posts_per_s']} | {r['deployed_posts_per_s']} | "
            f"{r['bare_ms_per_batch']} | {r['deployed_ms_per_batch']} | {r['deployed_share_of_bare']:.0%} |"
        )
    return "\n".join(lines)
