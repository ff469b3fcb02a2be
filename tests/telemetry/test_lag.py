from __future__ import annotations

from pipeline.telemetry.lag import lag_of


def test_lag_counts_offsets_and_ages_the_oldest_unprocessed_message() -> None:
    lag = lag_of("mentions", 2, end=120, committed=100, oldest_timestamp=1000.0, now=1042.5)
    assert (lag.messages, lag.oldest_age_seconds) == (20, 42.5)


def test_only_transaction_markers_left_is_no_lag() -> None:
    lag = lag_of("mentions.classified", 0, end=101, committed=100, oldest_timestamp=None, now=1000.0)
    assert (lag.messages, lag.oldest_age_seconds) == (0, 0.0)


def test_a_clock_ahead_of_ours_is_no_negative_age() -> None:
    assert lag_of("m", 0, end=5, committed=4, oldest_timestamp=2000.0, now=1000.0).oldest_age_seconds == 0.0
