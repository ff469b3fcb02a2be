"""The replay report, on a small fixture of brand traffic written for it
(tests/data/brand_traffic.jsonl): a support account with millions of followers
answering, a question that turns into a complaint, a conversation started by an
unwatched account, the brand's own announcement, and a complaint that arrives late."""

from __future__ import annotations

import copy
import re
from collections.abc import Sequence
from typing import Any

import pytest

from pipeline import replay
from pipeline.brands import Watchlist
from pipeline.classification.verdict import Verdict
from pipeline.settings import Settings
from tests.conftest import REPO

DATA = REPO / "tests" / "data"
ANGRY = re.compile(r"broken|dead|worst|unacceptable", re.IGNORECASE)


class KeywordModel:
    """0.9 for angry words (support replies use them too: "sorry it is broken"), else 0.1."""

    version = "keywords"

    def predict(self, texts: Sequence[str], batch_size: int = 64) -> list[Verdict]:
        return [Verdict(0.9 if ANGRY.search(t) else 0.1, 2) for t in texts]


def run() -> tuple[list[bytes], list[dict[str, Any]], Watchlist]:
    s = Settings(watchlist=DATA / "brand_traffic.toml")
    lines = replay.read_lines(DATA / "brand_traffic.jsonl")
    watchlist = Watchlist.load(s.watchlist)
    return lines, replay.offline(lines, watchlist, KeywordModel(), s), watchlist


def test_brand_accounts_leak_nowhere_and_the_right_conversations_escalate() -> None:
    lines, events, watchlist = run()
    r = replay.report(lines, events, watchlist)
    assert r["leaks"] and set(r["leaks"].values()) == {0}, r["leaks"]
    assert (r["mentions"], r["brand_account_posts"], r["conversations"]) == (11, 3, 5)
    cascades = {d["cascade"]: d for d in replay.latest(events).values() if d["kind"] == "cascade"}
    # Dana's 800 followers alone pass no threshold: the support account's 4.2M are not hers.
    assert "twitter:101" not in cascades
    # Eli's question turned into a complaint; Acme had answered 2 minutes in.
    eli = cascades["twitter:201"]
    assert eli["complaint_post"]["id"] == "203" and eli["root_post"]["id"] == "201"
    assert eli["brand_response"] == {"first_at": "2026-03-02T09:12:00+00:00", "after_seconds": 120, "replies": 1}
    assert eli["participants"] == 1 and eli["reach"]["potential"] == 1500
    # Gus replied to Acme in a thread Fay started without naming it: Fay's post is as
    # strong a complaint (the keyword model), and came first.
    fay = cascades["twitter:301"]
    assert fay["complaint_post"]["author_handle"] == "fay" and fay["participants"] == 2
    assert fay["matched"] == ["@AcmeCustServ"]
    (pile,) = [d for d in replay.latest(events).values() if d["kind"] == "pile_on"]
    assert {c["author_handle"] for c in pile["pile_on"]["complaints"]} == {"dana", "eli", "gus"}, "ivy's is an hour old"


def test_the_report_catches_a_brand_account_counted_as_audience() -> None:
    lines, events, watchlist = run()
    leaky = copy.deepcopy(events)
    for e in leaky:
        if e["data"].get("cascade") == "twitter:201":
            e["data"]["participants"] += 1
            e["data"]["reach"]["potential"] += 4_200_000
        if e["data"].get("kind") == "pile_on":
            e["data"]["pile_on"]["complaints"][0]["author_handle"] = "AcmeCustServ"
    r = replay.report(lines, leaky, watchlist)
    assert r["leaks"]["participants_include_brand"] == 1 and r["leaks"]["reach_includes_brand"] == 1
    assert r["leaks"]["pile_on_member_is_brand"] == 1
    assert "reach_includes_brand 1" in replay.summary(r)


@pytest.mark.model
@pytest.mark.data
def test_twcs_dev_replay_has_no_brand_account_leaks() -> None:
    """The real-traffic stream in the shared data, through the worker's flow functions
    with the shipped model (skips where ../shared/data is absent)."""
    from pipeline.classification import ComplaintModel
    from tests.conftest import SHARED_DATA, shared

    stream = shared(SHARED_DATA / "streams" / "twcs-dev")
    s = Settings(watchlist=stream / "watchlist.toml", device="cpu")
    lines = replay.read_lines(stream / "mentions.jsonl")
    watchlist = Watchlist.load(s.watchlist)
    model = ComplaintModel.load(s.model_dir, s.device, s.precision)
    events = replay.offline(lines, watchlist, model, s)
    r = replay.report(lines, events, watchlist)
    assert set(r["leaks"].values()) == {0}, r["leaks"]
    assert r["by_kind"]["cascade"] > 50 and r["escalations"] < 250, replay.summary(r)
    answered = [d for d in replay.latest(events).values() if d.get("brand_response")]
    assert any(d["brand_response"]["replies"] >= 1 for d in answered), "support answered in some"
    assert all(d["brand_response"]["first_at"] for d in answered)
