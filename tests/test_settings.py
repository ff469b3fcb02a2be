from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.settings import Settings


def test_reads_only_the_given_environment() -> None:
    s = Settings.from_env(
        {
            "FLASHPOINT_PARTITIONS": "12",
            "FLASHPOINT_WATCHLIST": "/x.toml",
            "FLASHPOINT_MIN_COMPLAINT_PROBABILITY": "0.7",
            "OTHER": "1",
        }
    )
    assert (s.partitions, s.watchlist, s.min_complaint_probability) == (12, Path("/x.toml"), 0.7)


def test_overrides_win_and_none_is_ignored() -> None:
    s = Settings.from_env({"FLASHPOINT_BOOTSTRAP_SERVERS": "a:1"}, bootstrap_servers="b:2")
    assert s.bootstrap_servers == "b:2"
    assert Settings.from_env({}, bootstrap_servers=None).bootstrap_servers == "127.0.0.1:9092"


@pytest.mark.parametrize(
    "env",
    [
        {"FLASHPOINT_PARTITIONS": "many"},
        {"FLASHPOINT_PROCESSING_GUARANTEE": "maybe"},
        {"FLASHPOINT_REACH_WARNING": "1"},
        {"FLASHPOINT_DEVICE": "tpu"},
    ],
)
def test_bad_values_are_rejected_with_the_variable_named(env: dict[str, str]) -> None:
    with pytest.raises(ValueError) as exc:
        Settings.from_env(env)
    assert "FLASHPOINT_" in str(exc.value) or "must" in str(exc.value)


def test_every_setting_is_documented() -> None:
    rows = Settings.describe()
    assert len(rows) == len(Settings.__dataclass_fields__)
    assert all(doc for _, _, doc in rows)


def test_isolated_settings_have_topics_and_a_group_of_their_own_and_travel_as_environ() -> None:
    s = Settings(partitions=4).isolated("r1")
    assert (s.app_id, s.topic_mentions, s.topic_dead_letter) == ("r1", "r1.mentions", "r1.mentions.dead-letter")
    assert s.topic_relay_dead_letter == "r1.escalations.relay-dead-letter" and s.partitions == 4
    assert Settings().isolated("r2", app_id="flashpoint-r2").app_id == "flashpoint-r2"
    # What a child process started with environ() reads back is the same settings.
    assert Settings.from_env(s.environ()) == s
