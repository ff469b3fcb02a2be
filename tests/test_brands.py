from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.brands import Watchlist, WatchlistError
from pipeline.mention import parse
from pipeline.settings import Settings
from tests.factories import mention_bytes

WATCH = Watchlist.from_dict(
    {
        "brand": [
            {"name": "Acme", "handles": ["AcmeCustServ"], "hashtags": ["Acme"], "keywords": ["acme widget"]},
            {"name": "Globex", "handles": ["GlobexCares"], "keywords": ["globex"]},
        ]
    }
)


def match(text: str, **kw: object) -> dict[str, tuple[bool, tuple[str, ...]]]:
    m = parse(mention_bytes(text=text, **kw))
    return {b.brand: (b.addressed, b.via) for b in WATCH.match(m)}


def test_handle_means_addressed() -> None:
    assert match("@acmecustserv broken again") == {"Acme": (True, ("@acmecustserv",))}


def test_hashtag_and_keyword_mean_about() -> None:
    assert match("my #ACME thing") == {"Acme": (False, ("#ACME",))}
    assert match("another Acme  Widget died") == {"Acme": (False, ("keyword 'Acme  Widget'",))}


def test_reply_to_brand_account_is_addressed() -> None:
    got = match("this still doesn't work", kind="reply", parent_id="1", in_reply_to_handle="AcmeCustServ")
    assert got == {"Acme": (True, ("reply to @AcmeCustServ",))}


def test_addressed_wins_when_both_and_several_brands_match() -> None:
    got = match("#Acme @AcmeCustServ and globex both failed me")
    assert got["Acme"][0] is True and got["Globex"] == (False, ("keyword 'globex'",))


def test_no_partial_words_or_emails() -> None:
    assert match("acmewidgetry and foo@AcmeCustServ.com and #Acmes") == {}


def test_watchlist_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(WatchlistError, match="no handles"):
        Watchlist.from_dict({"brand": [{"name": "X"}]})
    with pytest.raises(WatchlistError, match="listed twice"):
        Watchlist.from_dict({"brand": [{"name": "X", "handles": ["a"]}, {"name": "X", "handles": ["b"]}]})
    bad = tmp_path / "w.toml"
    bad.write_text("[[brand]\n")
    with pytest.raises(WatchlistError, match="cannot read"):
        Watchlist.load(bad)


def test_default_watchlist_loads() -> None:
    assert len(Watchlist.load(Settings().watchlist).brands) >= 4


def test_policy_tables_are_read_and_checked_at_load(tmp_path: Path) -> None:
    from pipeline.escalation import Policies, Policy

    path = tmp_path / "w.toml"
    path.write_text(
        '[[brand]]\nname = "Acme"\nhandles = ["AcmeCustServ"]\n'
        '[brand.policy]\nreach = [10, 20, 30, 40]\nvip = ["@Jane"]\n'
        '[[brand]]\nname = "Globex"\nhandles = ["GlobexCares"]\n'
    )
    w = Watchlist.load(path)
    assert w.policy_tables() == {"Acme": {"reach": [10, 20, 30, 40], "vip": ["@Jane"]}}
    policies = Policies.build(Policy(), w.policy_tables())
    assert policies.of("Acme").reach_thresholds == (10, 20, 30, 40)
    assert policies.of("Acme").vip_handles == frozenset({"jane"})
    assert policies.of("Globex") == Policy()
    with pytest.raises(WatchlistError, match=r"policy must be a table \(\[brand.policy\]\)"):
        Watchlist.from_dict({"brand": [{"name": "X", "handles": ["a"], "policy": 3}]})


def test_worker_refuses_a_bad_policy_at_startup(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    path = tmp_path / "w.toml"
    path.write_text('[[brand]]\nname = "Acme"\nhandles = ["AcmeCustServ"]\n[brand.policy]\nreach = [1, 2]\n')
    done = subprocess.run(
        [sys.executable, "-m", "pipeline", "worker"],
        env={**os.environ, "FLASHPOINT_WATCHLIST": str(path), "FLASHPOINT_BOOTSTRAP_SERVERS": "127.0.0.1:1"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert "brand 'Acme': policy reach: expected four whole numbers" in done.stderr


def test_topics_and_teams_are_read_from_the_watchlist(tmp_path: Path) -> None:
    path = tmp_path / "w.toml"
    path.write_text(
        """
[[brand]]
name = "Acme"
handles = ["AcmeCustServ"]
team = "care"

[[brand.topic]]
name = "billing"
team = "billing-desk"
examples = ["charged twice", "where is my refund"]

[[brand.topic]]
name = "outage"
team = "noc"
examples = ["the site is down"]

[[brand]]
name = "Globex"
handles = ["GlobexCares"]
"""
    )
    w = Watchlist.load(path)
    topics = w.topics()
    assert list(topics) == ["Acme"], "brands without topics are not listed"
    assert [(t.name, t.team, t.examples) for t in topics["Acme"]] == [
        ("billing", "billing-desk", ("charged twice", "where is my refund")),
        ("outage", "noc", ("the site is down",)),
    ]
    assert w.teams() == {"Acme": "care", "Globex": None}


@pytest.mark.parametrize(
    "topic, message",
    [
        ({"name": "billing", "examples": ["x"]}, r"topic 'billing': needs a team"),
        ({"name": "billing", "team": "b", "examples": []}, "examples must be a non-empty list"),
        ({"name": "billing", "team": "b", "examples": ["ok", ""]}, "examples must be a non-empty list"),
        ({"name": "billing", "team": "b"}, "examples must be a non-empty list"),
        ({"name": "Other", "team": "b", "examples": ["x"]}, "'other' is what no topic claims"),
        ({"team": "b", "examples": ["x"]}, r"topic #1: needs a name"),
        ({"name": "billing", "team": "b", "examples": ["x"], "owner": "me"}, r"unknown keys \['owner'\]"),
    ],
)
def test_bad_topics_are_refused_at_load_with_the_reason(topic: dict[str, object], message: str) -> None:
    brand = {"name": "Acme", "handles": ["AcmeCustServ"], "topic": [topic]}
    with pytest.raises(WatchlistError, match=message):
        Watchlist.from_dict({"brand": [brand]})


def test_a_topic_listed_twice_and_a_blank_team_are_refused() -> None:
    twice = [{"name": "billing", "team": "b", "examples": ["x"]}] * 2
    with pytest.raises(WatchlistError, match="listed twice"):
        Watchlist.from_dict({"brand": [{"name": "Acme", "handles": ["A"], "topic": twice}]})
    with pytest.raises(WatchlistError, match="team must be a non-empty string"):
        Watchlist.from_dict({"brand": [{"name": "Acme", "handles": ["A"], "team": " "}]})
    with pytest.raises(WatchlistError, match=r"topics are \[\[brand.topic\]\] tables"):
        Watchlist.from_dict({"brand": [{"name": "Acme", "handles": ["A"], "topic": {"name": "x"}}]})
