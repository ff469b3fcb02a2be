"""The escalation desk against a real Apache Kafka: feedback, reminders, corrections,
pile-ons and customer history, through the real worker."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from pipeline.kafka_admin import ensure_topics
from pipeline.records import DeadLetter
from pipeline.settings import Settings
from tests.broker.conftest import collect, make_worker, produce
from tests.broker.test_ops_kafka import cli_env
from tests.broker.test_pipeline_kafka import ROOT_TEXT, escalations_of
from tests.factories import assert_valid_escalation, at, mention_bytes

pytestmark = pytest.mark.broker

WATCHLIST = """
[[brand]]
name = "Acme"
handles = ["AcmeCustServ"]
hashtags = ["Acme"]

[brand.policy]
reminder_minutes = [0.05, 0.05, 0.05, 0.05]
"""


def complaint(post_id: str, author: str, seconds: float, followers: int = 1_200) -> bytes:
    return mention_bytes(
        id=post_id,
        text=ROOT_TEXT,
        created_at=at(seconds),
        author={"id": author, "handle": author, "followers": followers},
    )


def feedback(s: Settings, command: str, key: str, note: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pipeline", "feedback", command, key, "--by", "care-team", "--note", note],
        env=cli_env(s),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr


def events_until(s: Settings, worker: Any, check: Any, timeout: float = 90) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        events = escalations_of(asyncio.run(collect(s.bootstrap_servers, s.topic_escalations, until=10**6, timeout=2)))
        if check(events):
            return events
    raise AssertionError(
        f"timed out; events so far: {[(e['data']['dedup_key'], e['data']['action']) for e in events]}\n{worker.tail()}"
    )


def test_feedback_reminders_corrections_and_pile_ons(settings: Settings, tmp_path: Path) -> None:
    (tmp_path / "watch.toml").write_text(WATCHLIST)
    s = settings.replace(watchlist=tmp_path / "watch.toml", tick_interval_seconds=1.0)
    worker = make_worker(s, tmp_path / "worker.log")
    try:
        worker.start()
        asyncio.run(produce(s.bootstrap_servers, s.topic_mentions, [complaint("r1", "alice", 0)]))
        key = "Acme/twitter:r1"

        def actions(events: list[dict[str, Any]], k: str = key) -> list[str]:
            return [e["data"]["action"] for e in events if e["data"]["dedup_key"] == k]

        # Nobody acknowledges: reminded after its SLA (3 s here), through the desk's ticks.
        events_until(s, worker, lambda ev: actions(ev)[:2] == ["open", "reminder"])
        feedback(s, "ack", key, "calling her now")
        events = events_until(s, worker, lambda ev: "acknowledge" in actions(ev))
        time.sleep(5)
        events = escalations_of(asyncio.run(collect(s.bootstrap_servers, s.topic_escalations, until=10**6, timeout=2)))
        after = actions(events)[actions(events).index("acknowledge") + 1 :]
        assert after == [], f"no reminder after the acknowledgement: {after}"
        ack = next(e for e in events if e["data"]["action"] == "acknowledge")
        assert ack["data"]["status"] == "acknowledged" and ack["data"]["feedback"]["note"] == "calling her now"

        # Ops: not a complaint after all. The post becomes a labelled correction.
        feedback(s, "false-positive", key, "she was joking")
        events_until(s, worker, lambda ev: "false_positive" in actions(ev))
        (corr,) = asyncio.run(collect(s.bootstrap_servers, s.topic_corrections, until=1, timeout=60))
        c = orjson.loads(corr[1] or b"")
        assert (c["text"], c["label"], c["dedup_key"], c["reported_by"]) == (ROOT_TEXT, 0, key, "care-team")

        # Feedback nobody can act on: dead-lettered with the reason, the worker goes on.
        asyncio.run(ensure_topics(s, [s.topic_feedback]))
        bad = b'{"dedup_key": "Acme/x", "action": "close", "by": "bot"}'
        asyncio.run(produce(s.bootstrap_servers, s.topic_feedback, [bad]))
        (dead,) = asyncio.run(collect(s.bootstrap_servers, s.topic_dead_letter, until=1, timeout=60))
        assert "action: 'close' is not one of" in DeadLetter.from_headers(dead[2]).reason
        assert DeadLetter.from_headers(dead[2]).code == "invalid_value"
        m = worker.metrics()
        for line in (
            'flashpoint_feedback_total{action="acknowledge"} 1.0',
            'flashpoint_feedback_total{action="false_positive"} 1.0',
            'flashpoint_feedback_total{action="dead_letter"} 1.0',
            'flashpoint_dead_letters_total{reason="invalid_value",source="feedback"} 1.0',
            "flashpoint_corrections_total 1.0",
        ):
            assert line in m, line

        # Two more customers complain within minutes, Bob twice: with Alice, a pile-on
        # of three; Bob's second complaint comes from a repeat complainer.
        more = [complaint("r2", "bob", 60), complaint("r3", "carol", 120), complaint("r4", "bob", 180)]
        asyncio.run(produce(s.bootstrap_servers, s.topic_mentions, more))

        def r4_warning(ev: list[dict[str, Any]]) -> bool:
            return any(e["data"]["dedup_key"] == "Acme/twitter:r4" and e["data"]["severity"] == "warning" for e in ev)

        events = events_until(s, worker, lambda ev: any(e["data"]["kind"] == "pile_on" for e in ev) and r4_warning(ev))
        (pile,) = [e for e in events if e["data"]["kind"] == "pile_on"]
        assert pile["data"]["action"] == "open" and pile["data"]["pile_on"]["authors"] == 3
        assert {x["author_handle"] for x in pile["data"]["pile_on"]["complaints"]} == {"alice", "bob", "carol"}
        # Bob's first complaint is never raised: only earlier conversations count. Its
        # history shows what the desk knows when it decides, so his second conversation
        # is in it when that reached the desk first (another partition).
        r2 = next(e for e in events if e["data"]["dedup_key"] == "Acme/twitter:r2")
        assert r2["data"]["severity"] == "info" and r2["data"]["customer_history"]["conversations"] in (1, 2)
        # A repeat complainer raises info to warning, on its decision or, when Bob's
        # first complaint reaches the desk after his second (another partition), as
        # an upgrade then.
        r4 = [e for e in events if e["data"]["dedup_key"] == "Acme/twitter:r4"]
        assert [e["data"]["severity"] for e in r4][-1] == "warning" and len(r4) <= 2
        assert r4[-1]["data"]["customer_history"]["conversations"] == 2
        for e in events:
            assert_valid_escalation(e)
    finally:
        worker.stop()


def test_model_train_reads_the_corrections_topic(settings: Settings, tmp_path: Path) -> None:
    from pipeline.records import Correction
    from tests.factories import complaints_csv_text

    s = settings
    asyncio.run(ensure_topics(s, [s.topic_corrections]))
    found = [
        Correction(
            "so broken it's art, love it", 0, "twitter", "1", "Acme", "Acme/twitter:1", 0.9, "m", "care", None, "t"
        ),
        Correction(
            "my widget is broken (joke)", 0, "twitter", "2", "Acme", "Acme/twitter:2", 0.8, "m", "care", None, "t"
        ),
    ]
    asyncio.run(produce(s.bootstrap_servers, s.topic_corrections, [c.to_json() for c in found]))
    data = tmp_path / "train.csv"
    data.write_text(complaints_csv_text(24))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipeline",
            "model",
            "train",
            "--method",
            "frozen",
            "--folds",
            "2",
            "--data",
            str(data),
            "--corrections",
            "--out",
            str(tmp_path / "model"),
        ],
        env=cli_env(s),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    assert f"2 corrected post(s) from {s.topic_corrections} added as 'not a complaint'" in done.stderr
    config = json.loads((tmp_path / "model" / "config.json").read_text())
    assert config["rows"] == 24 + 2, "the two corrections were trained on"
