from __future__ import annotations

import csv
import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from pipeline.classification.topics import OTHER, Topic, TopicIndex, accuracy, choose_threshold, per_topic

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


def test_accuracy_per_topic_and_the_threshold_chosen() -> None:
    truth = ["billing", "billing", "outage", "other"]
    nearest = ["billing", "outage", "outage", "billing"]
    sims = [0.9, 0.2, 0.6, 0.3]
    assert accuracy(truth, nearest) == 0.5
    # 0.35 leaves the weak billing guess (0.3) to other and keeps the rest: 3 of 4;
    # 0.25 keeps that guess (2 of 4) and 0.7 sends the good outage one away (2 of 4).
    assert choose_threshold(truth, nearest, sims, [0.0, 0.25, 0.35, 0.7]) == 0.35
    table = per_topic(truth, ["billing", "other", "outage", "other"])
    assert table["billing"] == {"precision": 1.0, "recall": 0.5, "support": 2}
    assert table["other"] == {"precision": 0.5, "recall": 1.0, "support": 1}


def test_the_highest_of_equally_good_thresholds_is_chosen() -> None:
    # Unsure posts go to the brand's own team rather than, perhaps, a wrong desk.
    assert choose_threshold(["a"], ["a"], [0.9], [0.0, 0.5, 0.8, 0.95]) == 0.8


TOPICS_TOML = """
[[topic]]
name = "billing"
team = "billing-desk"
examples = ["I was charged twice", "where is my refund"]

[[topic]]
name = "delivery"
team = "logistics"
examples = ["my parcel has not arrived", "the delivery is late"]
"""


def run_topics(tmp_path: Path, rows: list[tuple[str, str]]) -> subprocess.CompletedProcess[str]:
    data, topics = tmp_path / "labelled.csv", tmp_path / "topics.toml"
    with data.open("w", newline="") as fh:
        csv.writer(fh).writerows([("text", "topic"), *rows])
    topics.write_text(TOPICS_TOML)
    return subprocess.run(
        [sys.executable, "-m", "pipeline", "model", "topics", "--data", str(data), "--topics", str(topics)],
        capture_output=True,
        text=True,
    )


@pytest.mark.model
def test_the_topics_command_scores_labelled_posts_with_the_shipped_model(tmp_path: Path) -> None:
    rows = [
        ("@Shop you charged me twice for one order, refund it", "billing"),
        ("@Shop still no refund after three weeks", "billing"),
        ("@Shop my parcel is a week late", "delivery"),
        ("@Shop the delivery never came", "delivery"),
        ("@Shop your new logo is ugly", "other"),
    ]
    done = run_topics(tmp_path, rows)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["posts"] == 5 and report["topics"] == ["billing", "delivery"]
    assert 0.0 <= report["accuracy"] <= 1.0
    assert set(report["per_topic"]) <= {"billing", "delivery", "other"}
    assert sum(t["support"] for t in report["per_topic"].values()) == 5
    assert report["cost"]["routing_ms_per_post"] > 0 and report["cost"]["inference_ms_per_post"] > 0


def test_a_label_that_is_no_listed_topic_is_one_clear_error(tmp_path: Path) -> None:
    done = run_topics(tmp_path, [("@Shop the app crashes", "outage")])
    assert done.returncode != 0
    assert "topics not in" in done.stderr and "outage" in done.stderr
