"""What topic routing costs the deployed classification path (issue 31, points 4 and 5).

The shipped path (``ComplaintModel.predict``) makes each post's routing embedding in the
same forward pass as its verdict: the encoder keeps its hidden states and layer 0 is
mean-pooled beside the output (``Encoder.forward_routed``). This times that path
against the same model without it (the output embedding passed on as is), alternating
the two in rounds so the machine's drift falls on both, and reports the median posts
per second of each; then the per-post cost of matching an embedding to a brand's
topics. Stop other work on the machine first::

    python -m benchmarks.routing_cost --json benchmarks/results/topics/routing-cost-<machine>.json
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmarks.report import emit
from pipeline.classification import ComplaintModel
from pipeline.classification.bench import cpu_name, sample_posts
from pipeline.classification.topics import Topic, TopicIndex
from pipeline.settings import Settings


def run(posts: int = 512, rounds: int = 5, batch_size: int = 64) -> dict[str, Any]:
    s = Settings.from_env()
    model = ComplaintModel.load(s.model_dir, s.device, s.precision)
    texts = sample_posts(posts)
    routed = model.encoder.forward_routed

    def plain(batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
        e = model.encoder.forward(batch)
        return e, e

    rates: dict[str, list[float]] = {"routed": [], "plain": []}
    model.predict(texts[:batch_size], batch_size=batch_size)  # warm-up
    for _ in range(rounds):
        for name, forward in (("routed", routed), ("plain", plain)):
            model.encoder.forward_routed = forward  # type: ignore[method-assign]
            started = time.perf_counter()
            verdicts = model.predict(texts, batch_size=batch_size)
            rates[name].append(len(texts) / (time.perf_counter() - started))
    model.encoder.forward_routed = routed  # type: ignore[method-assign]
    index = TopicIndex.build(
        {"Acme": tuple(Topic(f"t{i}", "team", (f"example {i}",)) for i in range(8))},
        model.encoder.routing,
        {},
        0.25,
    )
    embeddings = [v.embedding for v in verdicts]
    started = time.perf_counter()
    for e in embeddings:
        index.route("Acme", e)
    route_ms = 1000 * (time.perf_counter() - started) / len(embeddings)
    median = {k: statistics.median(v) for k, v in rates.items()}
    return {
        "machine": {"cpu": cpu_name(), "cores": torch.get_num_threads(), "device": str(model.encoder.device)},
        "precision": model.encoder.precision,
        "model_version": model.version,
        "posts": posts,
        "batch_size": batch_size,
        "rounds": rounds,
        "posts_per_second": {k: round(v, 1) for k, v in median.items()},
        "per_round": {k: [round(x, 1) for x in v] for k, v in rates.items()},
        "routed_over_plain": round(median["routed"] / median["plain"], 4),
        "route_ms_per_post_8_topics": round(route_ms, 4),
        "route_share_of_inference": round(route_ms / (1000 / median["routed"]), 5),
        "embedding_norms_ok": bool(
            np.allclose([np.linalg.norm(e) for e in embeddings if e is not None], 1.0, atol=1e-3)
        ),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--posts", type=int, default=512)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--json", type=Path, help="also write the result here")
    args = ap.parse_args()
    result = run(args.posts, args.rounds, args.batch_size)
    emit(result, args.json)


if __name__ == "__main__":
    main()
