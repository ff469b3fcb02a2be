from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from pipeline.classification.topics import OTHER, Topic, TopicIndex

WORDS = ("refund", "charged", "down", "outage", "parcel", "late")


def embed(texts: Sequence[str]) -> np.ndarray:
    """Bag of WORDS, unit rows: a stand-in encoder whose geometry a test can reason about."""
    rows = np.array([[float(w in t.lower()) for w in WORDS] + [0.1] for t in texts])
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


TOPICS = {
    "Acme": (
        Topic("billing", "billing-desk", ("refund please", "charged twice")),
        Topic("outage", "noc", ("site is down", "another outage")),
    ),
    "Bolt": (Topic("delivery", "logistics", ("parcel late",)),),
}


def index(min_similarity: float = 0.5) -> TopicIndex:
    return TopicIndex.build(TOPICS, embed, {"Acme": "care", "Bolt": None, "Cole": "cole-care"}, min_similarity)


def test_a_post_goes_to_its_brands_nearest_topic_and_that_topics_team() -> None:
    ix = index()
    (post,) = embed(["I was charged for nothing, refund now"])
    routed = ix.route("Acme", post)
    assert (routed.topic, routed.team) == ("billing", "billing-desk")
    assert routed.similarity > 0.5
    (down,) = embed(["the app is down again"])
    assert ix.route("Acme", down).topic == "outage"


def test_topics_are_the_brands_own() -> None:
    # The same words, another brand: Bolt lists no billing topic, so its nearest is delivery,
    # and that is too far.
    (post,) = embed(["refund please"])
    routed = index().route("Bolt", post)
    assert (routed.topic, routed.team) == (OTHER, None)


def test_nothing_near_enough_is_other_owned_by_the_brands_team() -> None:
    (post,) = embed(["lovely weather"])
    routed = index().route("Acme", post)
    assert (routed.topic, routed.team) == (OTHER, "care")
    assert routed.similarity < 0.5


def test_a_brand_without_topics_routes_everything_to_its_team() -> None:
    (post,) = embed(["refund please"])
    ix = index()
    assert not ix.has_topics("Cole")
    assert (ix.route("Cole", post).topic, ix.route("Cole", post).team) == (OTHER, "cole-care")
    assert ix.route("Unknown", post).team is None


def test_a_verdict_without_an_embedding_is_other() -> None:
    assert index().route("Acme", None).topic == OTHER


@pytest.mark.parametrize("threshold, expected", [(0.0, "billing"), (0.99, OTHER)])
def test_the_threshold_decides_between_nearest_and_other(threshold: float, expected: str) -> None:
    (post,) = embed(["refund"])  # one of billing's two words: similar, not identical
    assert index(threshold).route("Acme", post).topic == expected


def test_examples_are_embedded_in_one_call() -> None:
    calls: list[int] = []

    def counting(texts: Sequence[str]) -> np.ndarray:
        calls.append(len(texts))
        return embed(texts)

    TopicIndex.build(TOPICS, counting, {}, 0.5)
    assert calls == [5]


def test_no_topics_anywhere_embeds_nothing() -> None:
    def fail(texts: Sequence[str]) -> np.ndarray:
        raise AssertionError("nothing to embed")

    ix = TopicIndex.build({}, fail, {"Acme": "care"}, 0.5)
    assert ix.route("Acme", np.ones(3)).team == "care"
