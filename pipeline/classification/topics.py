"""Which of a brand's topics a complaint is about, and so whose desk it belongs on.

A brand lists its topics in the watchlist (``[[brand.topic]]``: a name, a few example
phrases, the team that owns it). Each topic is the mean of its examples' embeddings by
the complaint model's own encoder, embedded once when the worker starts; a post gets
the topic whose mean is nearest (cosine) to the embedding the complaint model already
made of it, or :data:`OTHER` when none is within ``min_similarity``. No second model
runs: per post this is one product with a few vectors.

Numpy only, so it is tested as pure code; the worker's model process builds the index
with the model's ``embed``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

OTHER = "other"


@dataclass(frozen=True)
class Topic:
    name: str
    team: str
    examples: tuple[str, ...]


@dataclass(frozen=True)
class Routed:
    """A post's topic for one brand and the team that owns it (the brand's own ``team``
    for :data:`OTHER`, None when it has none)."""

    topic: str
    team: str | None
    similarity: float


@dataclass(frozen=True)
class _BrandTopics:
    names: tuple[str, ...]
    teams: tuple[str, ...]
    centroids: np.ndarray  # (topics, dim), unit rows


class TopicIndex:
    def __init__(
        self,
        brands: Mapping[str, _BrandTopics],
        default_teams: Mapping[str, str | None],
        min_similarity: float,
    ) -> None:
        self._brands = dict(brands)
        self._default = dict(default_teams)
        self.min_similarity = min_similarity

    @classmethod
    def build(
        cls,
        topics: Mapping[str, Sequence[Topic]],
        embed: Callable[[Sequence[str]], np.ndarray],
        default_teams: Mapping[str, str | None],
        min_similarity: float,
    ) -> TopicIndex:
        """``topics``: brand -> its topics; ``embed``: texts -> unit embedding rows (the
        complaint model's encoder). Every example is embedded in one call.
        ``min_similarity``: FLASHPOINT_ROUTING_MIN_SIMILARITY (docs/topics.md)."""
        listed = [(brand, t) for brand, ts in topics.items() for t in ts]
        texts = [e for _, t in listed for e in t.examples]
        vectors = np.asarray(embed(texts), dtype=np.float32) if texts else np.zeros((0, 0), np.float32)
        out: dict[str, _BrandTopics] = {}
        at = 0
        for brand, ts in topics.items():
            if not ts:
                continue
            rows = []
            for t in ts:
                rows.append(vectors[at : at + len(t.examples)].mean(axis=0))
                at += len(t.examples)
            c = np.stack(rows)
            c /= np.maximum(np.linalg.norm(c, axis=1, keepdims=True), 1e-12)
            out[brand] = _BrandTopics(tuple(t.name for t in ts), tuple(t.team for t in ts), c)
        return cls(out, default_teams, min_similarity)

    def has_topics(self, brand: str) -> bool:
        return brand in self._brands

    def route(self, brand: str, embedding: np.ndarray | None) -> Routed:
        """The nearest of ``brand``'s topics to a post's embedding, or :data:`OTHER`."""
        default = self._default.get(brand)
        topics = self._brands.get(brand)
        if topics is None or embedding is None:
            return Routed(OTHER, default, 0.0)
        sims = topics.centroids @ np.asarray(embedding, dtype=np.float32)
        best = int(np.argmax(sims))
        sim = float(sims[best])
        if sim < self.min_similarity:
            return Routed(OTHER, default, sim)
        return Routed(topics.names[best], topics.teams[best], sim)


def accuracy(truth: Sequence[str], predicted: Sequence[str]) -> float:
    return sum(t == p for t, p in zip(truth, predicted, strict=True)) / max(1, len(truth))


def per_topic(truth: Sequence[str], predicted: Sequence[str]) -> dict[str, dict[str, float | int]]:
    """Precision, recall and support per topic (``other`` included)."""
    out: dict[str, dict[str, float | int]] = {}
    for name in sorted(set(truth) | set(predicted)):
        said = sum(p == name for p in predicted)
        real = sum(t == name for t in truth)
        hit = sum(t == p == name for t, p in zip(truth, predicted, strict=True))
        out[name] = {
            "precision": round(hit / said, 3) if said else 0.0,
            "recall": round(hit / real, 3) if real else 0.0,
            "support": real,
        }
    return out


def choose_threshold(
    truth: Sequence[str], nearest: Sequence[str], similarity: Sequence[float], grid: Sequence[float]
) -> float:
    """The ``min_similarity`` in ``grid`` with the best accuracy on these posts; the
    highest of equally good ones, since ``other`` goes to the brand's own team and an
    unsure post costs less there than on a wrong desk."""

    def acc(th: float) -> float:
        return accuracy(truth, [n if s >= th else OTHER for n, s in zip(nearest, similarity, strict=True)])

    return max(grid, key=lambda th: (acc(th), th))
