from __future__ import annotations

from typing import Any

from pipeline.reach import CascadeState, CascadeTracker
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
