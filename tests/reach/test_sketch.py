"""The bounded arrival sketch against the exact, per-event SEISMIC."""

from __future__ import annotations

import numpy as np
import orjson
import pytest

from pipeline.reach import seismic
from pipeline.reach.sketch import ArrivalSketch, bin_of
from tests.factories import cascade_events

BASE = 1_790_000_000.0


def sketch_of(times: np.ndarray, followers: np.ndarray, until: float) -> ArrivalSketch:
    sk = ArrivalSketch()
    sk.add_root(BASE, followers[0])
    for t, n in zip(times[1:], followers[1:], strict=True):
        if t <= until:
            sk.add(BASE + t, n)
    return sk


@pytest.mark.parametrize("t", [240.0, 600.0, 3600.0, 6 * 3600.0])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sketch_predicts_as_the_exact_events_do(t: float, seed: int) -> None:
    times, followers = cascade_events(3_000, seed)
    exact = seismic.predict(times, followers, t)
    got = sketch_of(times, followers, t).seismic(BASE + t)
    assert got.reposts == exact.reposts
    assert got.remaining_exposure == pytest.approx(exact.remaining_exposure, rel=0.01)
    assert got.p == pytest.approx(exact.p, rel=0.05)
    assert got.final == pytest.approx(exact.final, rel=0.03)


def test_state_is_bounded_whatever_the_cascade_size() -> None:
    times, followers = cascade_events(50_000, 4)
    sk = sketch_of(times, followers, 40 * 86_400.0)
    assert len(sk.bins) <= bin_of(float("inf")) + 1 == 106
    size = len(orjson.dumps(sk.to_dict()))
    assert size < 5_000, size
    assert sk.reposts == 50_000


def test_round_trip_through_json() -> None:
    times, followers = cascade_events(500, 5)
    sk = sketch_of(times, followers, 3600.0)
    back = ArrivalSketch.from_dict(orjson.loads(orjson.dumps(sk.to_dict())))
    assert back.reposts == sk.reposts
    assert back.seismic(BASE + 3600).final == pytest.approx(sk.seismic(BASE + 3600).final, rel=1e-4)


def test_root_arriving_late_gives_the_same_sketch() -> None:
    times, followers = cascade_events(400, 6)
    in_order = sketch_of(times, followers, 3600.0)
    late = ArrivalSketch()
    for t, n in zip(times[1:], followers[1:], strict=True):
        if t <= 3600:
            late.add(BASE + t, n)
    late.add_root(BASE, followers[0])
    assert late.anchor == in_order.anchor == BASE
    assert late.reposts == in_order.reposts
    assert late.seismic(BASE + 3600).final == pytest.approx(in_order.seismic(BASE + 3600).final, rel=0.02)


def test_bins_are_30_seconds_then_10_percent_wider() -> None:
    assert [bin_of(s) for s in (0, 29.9, 30, 299)] == [0, 0, 1, 9]
    assert bin_of(300) == 10 and bin_of(329) == 10 and bin_of(331) == 11
    assert bin_of(-5) == 0


def full_encoding(sk: ArrivalSketch) -> dict[str, object]:
    return ArrivalSketch(sk.anchor, sk.root_followers, sk.root_seen, sk.bins).to_dict()


def test_encoding_only_what_changed_gives_the_full_encoding_and_never_changes_a_stored_dict() -> None:
    times, followers = cascade_events(400, 5)
    sk = ArrivalSketch()
    stored: list[tuple[dict[str, object], bytes]] = []
    for t, n in zip(times[1:200], followers[1:200], strict=True):
        sk.add(BASE + 60 + float(t), float(n))  # before the root: re-anchored when it comes
        d = sk.to_dict()
        assert d == full_encoding(sk)
        stored.append((d, orjson.dumps(d)))
    sk.add_root(BASE, float(followers[0]))
    assert sk.to_dict() == full_encoding(sk)
    again = ArrivalSketch.from_dict(orjson.loads(orjson.dumps(sk.to_dict())))
    for t, n in zip(times[200:], followers[200:], strict=True):
        again.add(BASE + float(t), float(n))
        d = again.to_dict()
        assert d == full_encoding(again)
        stored.append((d, orjson.dumps(d)))
    assert all(orjson.dumps(d) == raw for d, raw in stored), "a dict handed out was changed later"
