from __future__ import annotations

from typing import Any

from pipeline.reach import CascadeState, CascadeTracker, Forecaster, forecast_due, outlook
from pipeline.settings import Settings
from tests.factories import at, classified


def tracker(max_pending: int = 10_000) -> CascadeTracker:
    stores: list[dict[str, Any]] = [{}, {}, {}]
    return CascadeTracker(*stores, max_pending=max_pending)


def test_reach_counts_each_distinct_participant_once() -> None:
    t = tracker()
    t.apply(classified(id="r", author={"id": "alice", "followers": 1000}))
    t.apply(classified(id="1", kind="repost", parent_id="r", root_id="r", author={"id": "bob", "followers": 50}))
    t.apply(classified(id="2", kind="repost", parent_id="r", root_id="r", author={"id": "bob", "followers": 50}))
    s = t.apply(
        classified(
            id="3", kind="reply", parent_id="r", root_id="r", text="me too", author={"id": "alice", "followers": 1000}
        )
    )
    assert s is not None
    assert (s.potential_reach, s.participants, s.reposts, s.replies) == (1050, 2, 2, 1)


def test_redelivery_is_ignored() -> None:
    t = tracker()
    root = classified(id="r")
    assert t.apply(root) is not None
    assert t.apply(root) is None
    state = t.get("twitter:r")
    assert state is not None and state.participants == 1


def test_repost_before_root_is_kept_and_evaluated_when_root_arrives() -> None:
    t = tracker()
    early = t.apply(classified(id="1", kind="repost", parent_id="r", root_id="r", author={"followers": 70}))
    assert early is not None and early.root is None and early.potential_reach == 70
    s = t.apply(classified(id="r", author={"followers": 1000}, created_at=at(-5)))
    assert s is not None and s.root is not None
    assert s.potential_reach == 1070 and s.reposts == 1
    assert s.first_event_at == s.root.created_at


def test_depth_follows_parents_and_reply_to_reply_stays_in_root_cascade() -> None:
    t = tracker()
    t.apply(classified(id="r"))
    t.apply(classified(id="a", kind="reply", parent_id="r", root_id="r", text="x"))
    s = t.apply(classified(id="b", kind="reply", parent_id="a", root_id="r", text="y"))
    assert s is not None and s.key == "twitter:r" and s.depth == 2


def test_overflow_before_root_is_counted_not_added() -> None:
    t = tracker(max_pending=2)
    for i in range(4):
        t.apply(classified(id=f"p{i}", kind="repost", parent_id="r", root_id="r"))
    s = t.get("twitter:r")
    assert s is not None and (s.reposts, s.dropped_before_root) == (2, 2)


def test_complaining_responses_are_counted() -> None:
    t = tracker()
    t.apply(classified(id="r"))
    t.apply(classified(id="a", kind="reply", parent_id="r", root_id="r", probability=0.9))
    s = t.apply(classified(id="b", kind="reply", parent_id="r", root_id="r", probability=0.1))
    assert s is not None and s.complaining_responses == 1


def test_state_round_trips_through_its_dict() -> None:
    t = tracker()
    s = t.apply(classified(id="r"))
    assert s is not None
    assert CascadeState.from_dict(s.to_dict()) == s


def repost(i: int, seconds: float, followers: int = 200, cascade: str = "r") -> Any:
    return classified(
        id=f"{cascade}-{i}",
        kind="repost",
        parent_id=cascade,
        root_id=cascade,
        created_at=at(seconds),
        author={"id": f"{cascade}-u{i}", "followers": followers},
    )


def test_reposts_and_quotes_feed_the_sketch_replies_do_not() -> None:
    t = tracker()
    t.apply(classified(id="r", author={"followers": 1000}))
    t.apply(repost(1, 60))
    t.apply(classified(id="q", kind="quote", parent_id="r", root_id="r", text="so's mine", created_at=at(90)))
    s = t.apply(classified(id="p", kind="reply", parent_id="r", root_id="r", text="same", created_at=at(120)))
    assert s is not None
    from pipeline.reach.sketch import ArrivalSketch

    sk = ArrivalSketch.from_dict(s.arrivals)
    assert sk.reposts == 2 and sk.root_seen and sk.root_followers == 1000


def test_outlook_forecasts_from_the_latest_event() -> None:
    t = tracker()
    t.apply(classified(id="r", author={"followers": 2000}))
    s = None
    for i in range(30):
        s = t.apply(repost(i, 20 * (i + 1), followers=300))
    assert s is not None
    o = outlook(s, Forecaster.load(Settings().reach_model))
    assert o is not None
    assert o.observed_seconds == 600 and o.reposts == 30
    assert o.final_reposts >= 30 and o.final_reposts_low <= o.final_reposts <= o.final_reposts_high
    assert o.potential_reach > s.potential_reach


def test_the_outlook_reads_what_is_stored() -> None:
    # A replay after a crash starts from the stored state: the live outlook must equal
    # the one computed from it, or a replayed event could decide differently. Follower
    # sums of seven and more digits are where rounding for storage shows.
    t = tracker()
    t.apply(classified(id="r", author={"followers": 2_345_671}))
    forecaster = Forecaster.load(Settings().reach_model)
    for i in range(40):
        s = t.apply(repost(i, 17.3 * (i + 1), followers=1_234_567 + 7919 * i))
        assert s is not None
        stored = CascadeState.from_dict(t.cascades[s.key])
        assert outlook(s, forecaster) == outlook(stored, forecaster)


def test_no_outlook_before_the_root_or_the_first_repost() -> None:
    t = tracker()
    s = t.apply(repost(1, 60))
    assert s is not None and outlook(s, Forecaster.load(Settings().reach_model)) is None
    t = tracker()
    s = t.apply(classified(id="r", author={"followers": 2000}))
    assert s is not None and outlook(s, Forecaster.load(Settings().reach_model)) is None


def test_sweep_forgets_quiet_cascades_of_its_partition_only() -> None:
    t = tracker()
    t.apply(classified(id="r", author={"id": "alice"}), partition=0, now=1_000.0)
    t.apply(repost(1, 60), partition=0, now=1_000.0)
    t.apply(classified(id="s", author={"id": "bob"}), partition=1, now=1_000.0)  # other partition
    t.apply(classified(id="u", author={"id": "carol"}), partition=0, now=5_000.0)  # recent
    assert t.sweep(0, now=5_500.0, ttl=3_600.0) == 1
    assert t.get("twitter:r") is None
    assert not any(k.startswith("twitter:r|") for k in t.participants)
    assert sorted(t.posts) == ["twitter:s", "twitter:u"]
    assert t.get("twitter:s") is not None and t.get("twitter:u") is not None
    assert t.sweep(0, now=5_500.0, ttl=3_600.0) == 0
    # A late repost of a forgotten cascade starts over, waiting for a root that is gone.
    late = t.apply(repost(2, 7_000), partition=0, now=6_000.0)
    assert late is not None and late.root is None and late.reposts == 1


def test_a_state_reused_from_the_decoded_cache_equals_a_fresh_decode() -> None:
    t = tracker()
    t.apply(classified(id="r", author={"followers": 1000}))
    for i in range(5):
        t.apply(classified(id=f"p{i}", kind="repost", parent_id="r", root_id="r", created_at=at(30 * i)))
    cached = t.get("twitter:r")
    assert cached is not None
    fresh = CascadeState.from_dict(t.cascades["twitter:r"])
    assert cached.to_dict() == fresh.to_dict()
    assert cached.sketch().to_dict() == fresh.sketch().to_dict()


def test_a_state_changed_but_not_saved_is_not_reused() -> None:
    # A caller that fails halfway through an event must not leave its changes behind.
    t = tracker()
    t.apply(classified(id="r"))
    half_done = t.get("twitter:r")
    assert half_done is not None
    half_done.reposts = 99
    again = t.get("twitter:r")
    assert again is not None and again.reposts == 0


def test_a_store_rewritten_from_elsewhere_is_read_not_the_cached_state() -> None:
    # A changelog recovery puts new dicts in the store; the cache must not outlive them.
    t = tracker()
    t.apply(classified(id="r"))
    t.cascades["twitter:r"] = {**t.cascades["twitter:r"], "reposts": 7}
    state = t.get("twitter:r")
    assert state is not None and state.reposts == 7


def test_forecasts_follow_every_repost_of_a_small_cascade_then_its_growth() -> None:
    t = tracker()
    t.apply(classified(id="r"))
    due = []
    for i in range(10_000):
        s = t.apply(classified(id=f"p{i}", kind="repost", parent_id="r", root_id="r", created_at=at(i)))
        assert s is not None
        due.append(forecast_due(s, "repost"))
    assert all(due[:64])
    # Then about one in every 2% of growth: 64 + ln(10000 / 64) / ln(1.02), about 319.
    assert 300 <= sum(due) <= 330
    assert forecast_due(s, "reply") and forecast_due(s, "post")


def reply(ident: str, author: str, followers: int = 100, **kw: Any) -> Any:
    return classified(
        id=ident,
        kind="reply",
        parent_id="r",
        root_id="r",
        author={"id": author, "handle": author, "followers": followers},
        **kw,
    )


def test_the_brands_own_replies_are_recorded_but_count_nowhere() -> None:
    t = tracker()
    t.apply(classified(id="r", created_at=at(0), author={"id": "alice", "handle": "alice", "followers": 300}))
    s = t.apply(reply("1", "AcmeCustServ", 5_000_000, brand_account="Acme", created_at=at(600), text="Sorry! DM us"))
    assert s is not None
    assert (s.potential_reach, s.participants, s.replies, s.complaining_responses) == (300, 1, 0, 0)
    assert s.brand_answers == {"Acme": at(600).replace("Z", "+00:00")} and s.brand_replies == 1
    assert s.lead is not None and s.lead.author_id == "alice"
    assert s.last_event_at == at(0).replace("Z", "+00:00"), "the brand's reply is not customer activity"


def test_a_later_customer_post_can_carry_the_complaint() -> None:
    t = tracker()
    t.apply(classified(id="r", probability=0.2, severity=1, author={"id": "alice", "handle": "alice"}))
    s = t.apply(reply("1", "alice", probability=0.95, severity=3, text="@AcmeCustServ 3 weeks and still broken"))
    assert s is not None and s.lead is not None
    assert (s.lead.id, s.complaint_probability, s.complaint_severity) == ("1", 0.95, 3)
    assert s.complaining_responses == 0, "the customer's own follow-up is not another customer joining in"
    s = t.apply(reply("2", "bob", probability=0.8))
    s = t.apply(reply("3", "bob", probability=0.9))
    assert s is not None and s.complaining_responses == 1, "each other customer counts once"


def test_a_conversation_whose_root_was_not_watched_can_still_escalate() -> None:
    from pipeline.escalation import Policy, decide
    from pipeline.records import BrandMatch

    t = tracker()
    brands = (BrandMatch("Acme", True, ("reply to @AcmeCustServ",)),)
    s = t.apply(reply("1", "carol", 5_000, probability=0.9, text="@AcmeCustServ it is still broken"))
    assert s is not None and s.root is None
    s = t.apply(
        classified(
            id="2",
            kind="reply",
            parent_id="1",
            root_id="r",
            brands=brands,
            probability=0.9,
            author={"id": "carol", "handle": "carol", "followers": 5_000},
        )
    )
    assert s is not None and [b.brand for b in s.brands] == ["Acme"] and s.customer_id == "carol"
    (d,) = decide(s, Policy())
    assert d.brand.brand == "Acme" and "later post in the conversation" in d.reasons[0]
