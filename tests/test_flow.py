from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np
import pytest

from pipeline.brands import Watchlist
from pipeline.classification.topics import Topic, TopicIndex
from pipeline.classification.verdict import Verdict
from pipeline.escalation import Policy
from pipeline.flow import Incoming, ingest, track
from pipeline.reach import CascadeTracker, Forecaster, forecast_due
from pipeline.settings import Settings
from tests.factories import assert_valid_escalation, at, classified, mention_bytes

WATCH = Watchlist.from_dict({"brand": [{"name": "Acme", "handles": ["AcmeCustServ"], "hashtags": ["Acme"]}]})
NOW = datetime(2026, 11, 22, 15, tzinfo=UTC)


class FakeModel:
    """Complaint probability 0.9 when the text says 'broken', else 0.1."""

    version = "fake-1"

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def predict(self, texts: Sequence[str], batch_size: int = 64) -> list[Verdict]:
        self.calls.append(list(texts))
        return [Verdict(0.9 if "broken" in t else 0.1, 3) for t in texts]


def msg(value: bytes, offset: int = 0) -> Incoming:
    return Incoming(value, b"k", "mentions", 0, offset)


def test_ingest_routes_every_message_somewhere() -> None:
    model = FakeModel()
    batch = [
        msg(mention_bytes(id="r", text="@AcmeCustServ broken again"), 0),
        msg(b"{oops", 1),
        msg(mention_bytes(id="u", text="nice sunset"), 2),
        msg(mention_bytes(id="p", kind="repost", parent_id="r", text=""), 3),
        msg(mention_bytes(id="q", kind="reply", parent_id="r", text="mine is broken too"), 4),
    ]
    out = ingest(batch, WATCH, model, NOW)
    # "u" names no brand: it goes on all the same (counted as unmatched), for the brand
    # may answer in its conversation.
    assert [cm.mention.id for cm in out.forward] == ["r", "u", "p", "q"]
    assert out.unmatched == 1 and out.forward[1].brands == ()
    ((dead_msg, letter),) = out.dead
    assert dead_msg.value == b"{oops" and letter.source_offset == 1 and "not valid JSON" in letter.reason
    assert model.calls == [["@AcmeCustServ broken again", "nice sunset", "mine is broken too"]], "one batch"
    repost = out.forward[2]
    assert repost.complaint_probability is None and repost.cascade_key == "twitter:r"


def test_track_emits_open_once_then_nothing_for_redelivery() -> None:
    model = FakeModel()
    out = ingest(
        [msg(mention_bytes(id="r", text="@AcmeCustServ broken", author={"followers": 5000}))], WATCH, model, NOW
    )
    tracker = CascadeTracker({}, {}, {})
    signals = track(out.forward[0], tracker, Policy(), NOW, "urn:t")
    assert [(x.kind, x.brand) for x in signals] == [("complaint", "Acme"), ("decision", "Acme")]
    c, d = signals
    assert c.complaint is not None and c.complaint["author_id"] == d.author_id and c.complaint["root"] is True
    assert d.draft is not None and d.draft["data"]["action"] == "open"
    assert track(out.forward[0], tracker, Policy(), NOW, "urn:t") == []


def test_complaining_replies_count_for_their_cascades_brand() -> None:
    model = FakeModel()
    tracker = CascadeTracker({}, {}, {})
    root = ingest(
        [msg(mention_bytes(id="r", text="@AcmeCustServ broken", author={"followers": 5000}))], WATCH, model, NOW
    )
    track(root.forward[0], tracker, Policy(), NOW, "urn:t")
    reply = mention_bytes(
        id="p", kind="reply", parent_id="r", root_id="r", text="So's mine, broken too", author={"id": "z"}
    )
    out = ingest([msg(reply)], WATCH, model, NOW)
    (sig,) = track(out.forward[0], tracker, Policy(), NOW, "urn:t")
    assert sig.kind == "complaint" and sig.brand == "Acme" and sig.complaint is not None
    assert (
        sig.complaint["author_id"] == "z" and sig.complaint["cascade_key"] == "twitter:r" and not sig.complaint["root"]
    )


class BrokenOnSome(FakeModel):
    """Raises for any batch holding a text with 'poison' in it."""

    def predict(self, texts: Sequence[str], batch_size: int = 64) -> list[Verdict]:
        self.calls.append(list(texts))
        if any("poison" in t for t in texts):
            raise RuntimeError("tensor shape mismatch")
        return [Verdict(0.9 if "broken" in t else 0.1, 3) for t in texts]


def test_a_text_the_model_fails_on_is_dead_lettered_and_the_rest_go_on() -> None:
    model = BrokenOnSome()
    batch = [
        msg(mention_bytes(id="a", text="@AcmeCustServ broken again"), 0),
        msg(mention_bytes(id="b", text="@AcmeCustServ poison"), 1),
        msg(mention_bytes(id="c", text="@AcmeCustServ fine thanks"), 2),
    ]
    out = ingest(batch, WATCH, model, NOW)
    assert [cm.mention.id for cm in out.forward] == ["a", "c"]
    assert [cm.complaint_probability for cm in out.forward] == [0.9, 0.1]
    ((dead, letter),) = out.dead
    assert dead.offset == 1 and letter.code == "model_error" and "model" in letter.reason
    assert len(model.calls) == 4, "the batch, then each text alone"
    # Counted for the worker's metrics (ingest runs in a child process: it reports, the
    # event loop observes): the batch and the one text.
    assert out.model_errors == 2 and out.batch_sizes == [] and out.inference_seconds == []


def test_the_kafka_arrival_time_travels_with_the_mention_to_the_desk() -> None:
    model = FakeModel()
    raw = mention_bytes(id="r", text="@AcmeCustServ broken", author={"followers": 5000})
    out = ingest([Incoming(raw, b"k", "mentions", 0, 0, 1_790_000_000.25)], WATCH, model, NOW)
    cm = out.forward[0]
    assert cm.arrived_at == 1_790_000_000.25
    assert type(cm).from_json(cm.to_json()).arrived_at == 1_790_000_000.25
    signals = track(cm, CascadeTracker({}, {}, {}), Policy(), NOW, "urn:t")
    assert signals and all(type(x).from_json(x.to_json()).arrived_at == 1_790_000_000.25 for x in signals)


def test_a_decoder_bug_costs_one_dead_letter_not_the_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    import pipeline.flow

    def broken(raw: bytes | None) -> object:
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(pipeline.flow, "parse", broken)
    out = ingest([msg(b"{}", 3)], WATCH, FakeModel(), NOW)
    ((dead, letter),) = out.dead
    assert dead.offset == 3 and letter.code == "decoder_error" and "RecursionError" in letter.reason


def test_an_escalation_between_forecasts_still_carries_one() -> None:
    # Past 64 reposts a cascade is forecast only as it grows; an escalation that a repost
    # between two forecasts triggers gets its own, and the level that forecast gives.
    forecaster = Forecaster.load(Settings().reach_model)
    tracker = CascadeTracker({}, {}, {})
    root = ingest(
        [msg(mention_bytes(id="r", text="@AcmeCustServ broken", author={"followers": 10}))], WATCH, FakeModel(), NOW
    )
    track(root.forward[0], tracker, Policy(), NOW, "urn:t", forecaster)
    drafts = []
    for i in range(100):
        followers = 30_000 if i == 99 else 5
        repost = classified(
            id=f"p{i}", kind="repost", parent_id="r", root_id="r", created_at=at(i), author={"followers": followers}
        )
        drafts += [s.draft for s in track(repost, tracker, Policy(), NOW, "urn:t", forecaster) if s.draft]
    state = tracker.get("twitter:r")
    assert state is not None and not forecast_due(state, "repost"), "the 100th repost falls between two forecasts"
    (draft,) = drafts
    assert draft["data"]["action"] == "open" and draft["data"]["forecast"] is not None


def test_the_brands_own_posts_are_not_classified_and_never_complaints() -> None:
    model = FakeModel()
    support = {"id": "acme-support", "handle": "AcmeCustServ", "followers": 3_000_000, "verified": True}
    batch = [
        msg(mention_bytes(id="r", text="@AcmeCustServ broken again", author={"followers": 200}), 0),
        # "broken" would score 0.9: a support reply quoting the customer's words.
        msg(mention_bytes(id="b", kind="reply", parent_id="r", text="Sorry it is broken, DM us", author=support), 1),
        msg(mention_bytes(id="a", text="Our new widget is here! broken records", author=support), 2),
    ]
    out = ingest(batch, WATCH, model, NOW)
    assert model.calls == [["@AcmeCustServ broken again"]]
    assert [(cm.mention.id, cm.brand_account, cm.complaint_probability) for cm in out.forward] == [
        ("r", None, 0.9),
        ("b", "Acme", None),
        ("a", "Acme", None),
    ]
    tracker = CascadeTracker({}, {}, {})
    policy = Policy()
    signals = [sig for cm in out.forward for sig in track(cm, tracker, policy, NOW, "urn:t")]
    complaints = [sig.complaint for sig in signals if sig.kind == "complaint"]
    assert [c["author_id"] for c in complaints if c] == [out.forward[0].mention.author.id]
    state = tracker.get("twitter:r")
    assert state is not None and (state.participants, state.potential_reach) == (1, 200)
    assert list(state.brand_answers) == ["Acme"]


def test_a_conversation_is_the_brands_once_its_account_answers() -> None:
    """A complaint naming the brand by a handle the watchlist lacks: the support
    account's reply claims the conversation, and the complaint escalates."""
    model = FakeModel()
    support = {"id": "acme-support", "handle": "AcmeCustServ", "followers": 3_000_000}
    batch = [
        msg(mention_bytes(id="r", text="@AcmeHQ my widget is broken", author={"id": "c", "followers": 5000}), 0),
        msg(mention_bytes(id="b", kind="reply", parent_id="r", text="@c Sorry! DM us", author=support), 1),
    ]
    out = ingest(batch, WATCH, model, NOW)
    assert out.unmatched == 1
    tracker = CascadeTracker({}, {}, {})
    first = track(out.forward[0], tracker, Policy(), NOW, "urn:t")
    assert first == [], "nobody's yet"
    (decision,) = [sig for sig in track(out.forward[1], tracker, Policy(), NOW, "urn:t") if sig.kind == "decision"]
    assert decision is not None and decision.draft is not None
    data = decision.draft["data"]
    assert data["brand"] == "Acme" and data["matched"] == ["answered by @AcmeCustServ"]
    assert data["reach"]["potential"] == 5000 and data["brand_response"]["replies"] == 1


class EmbeddingModel(FakeModel):
    """FakeModel whose verdicts carry an embedding: 'refund' and 'down' one-hot."""

    def predict(self, texts: Sequence[str], batch_size: int = 64) -> list[Verdict]:
        out = super().predict(texts, batch_size)
        return [
            Verdict(v.complaint_probability, v.severity, np.array([float("refund" in t), float("down" in t), 0.1]))
            for v, t in zip(out, texts, strict=True)
        ]


ROUTES = TopicIndex.build(
    {"Acme": (Topic("billing", "billing-desk", ("refund",)), Topic("outage", "noc", ("down",)))},
    lambda texts: np.array([[float("refund" in t), float("down" in t), 0.0] for t in texts]),
    {"Acme": "care"},
    0.5,
)


def test_a_complaint_carries_its_topic_and_team_to_the_escalation() -> None:
    out = ingest(
        [msg(mention_bytes(id="r", text="@AcmeCustServ broken, refund me", author={"followers": 5000}))],
        WATCH,
        EmbeddingModel(),
        NOW,
        ROUTES,
    )
    (cm,) = out.forward
    assert [(b.brand, b.topic, b.team) for b in cm.brands] == [("Acme", "billing", "billing-desk")]
    signals = track(cm, CascadeTracker({}, {}, {}), Policy(), NOW, "urn:t")
    complaint, decision = signals
    assert complaint.complaint is not None and complaint.complaint["team"] == "billing-desk"
    assert decision.draft is not None
    data = decision.draft["data"]
    assert (data["topic"], data["team"]) == ("billing", "billing-desk")
    assert_valid_escalation(decision.draft)


def test_the_conversations_topic_is_its_strongest_complaints() -> None:
    model, tracker = EmbeddingModel(), CascadeTracker({}, {}, {})
    batch = [
        # A question first (0.1), then the complaint that makes the conversation (0.9).
        msg(mention_bytes(id="r", text="@AcmeCustServ is the site down?", author={"followers": 50}), 0),
        msg(
            mention_bytes(id="q", kind="reply", parent_id="r", root_id="r", text="@AcmeCustServ broken, refund"),
            1,
        ),
    ]
    for cm in ingest(batch, WATCH, model, NOW, ROUTES).forward:
        track(cm, tracker, Policy(), NOW, "urn:t")
    state = tracker.get("twitter:r")
    assert state is not None
    assert [(b.topic, b.team) for b in state.brands] == [("billing", "billing-desk")]
    # And it survives the state's round trip through the changelog.
    assert type(state).from_dict(state.to_dict()).brands == state.brands


def test_a_complaint_near_no_topic_is_other_and_goes_to_the_brands_team() -> None:
    out = ingest([msg(mention_bytes(id="r", text="@AcmeCustServ broken"))], WATCH, EmbeddingModel(), NOW, ROUTES)
    assert [(b.topic, b.team) for b in out.forward[0].brands] == [("other", "care")]


def test_reposts_and_the_brands_own_posts_get_no_topic() -> None:
    support = {"id": "acme-support", "handle": "AcmeCustServ", "followers": 3_000_000}
    batch = [
        msg(mention_bytes(id="p", kind="repost", parent_id="r", text="@AcmeCustServ refund"), 0),
        msg(mention_bytes(id="b", kind="reply", parent_id="r", text="@c refund is on its way", author=support), 1),
    ]
    out = ingest(batch, WATCH, EmbeddingModel(), NOW, ROUTES)
    assert all(b.topic is None for cm in out.forward for b in cm.brands)
