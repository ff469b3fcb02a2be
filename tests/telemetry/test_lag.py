from __future__ import annotations

import asyncio
from collections.abc import Iterable

from prometheus_client import REGISTRY

from pipeline.telemetry.lag import PartitionLag, forget, lag_of, report


def test_lag_counts_offsets_and_ages_the_oldest_unprocessed_message() -> None:
    lag = lag_of("mentions", 2, end=120, committed=100, oldest_timestamp=1000.0, now=1042.5)
    assert (lag.messages, lag.oldest_age_seconds) == (20, 42.5)


def test_only_transaction_markers_left_is_no_lag() -> None:
    lag = lag_of("mentions.classified", 0, end=101, committed=100, oldest_timestamp=None, now=1000.0)
    assert (lag.messages, lag.oldest_age_seconds) == (0, 0.0)


def test_a_clock_ahead_of_ours_is_no_negative_age() -> None:
    assert lag_of("m", 0, end=5, committed=4, oldest_timestamp=2000.0, now=1000.0).oldest_age_seconds == 0.0


class FakeProbe:
    def __init__(self, result: list[PartitionLag] | Exception) -> None:
        self.result = result
        self.started = False

    async def start(self) -> None:
        self.started = True

    async def sample(self, owned: Iterable[tuple[str, int]], now: float | None = None) -> list[PartitionLag]:
        if isinstance(self.result, Exception):
            raise self.result
        return self.result


def value(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


def test_a_sample_sets_the_owned_partitions_series_and_forget_drops_them() -> None:
    owned = {("t-report", 0), ("t-report", 1)}
    probe = FakeProbe(
        [
            lag_of("t-report", 0, end=50, committed=20, oldest_timestamp=990.0, now=1000.0),
            lag_of("t-report", 1, end=7, committed=7, oldest_timestamp=None, now=1000.0),
            # Moved to another worker while the sample ran: not reported here.
            lag_of("t-report", 2, end=9, committed=1, oldest_timestamp=900.0, now=1000.0),
        ]
    )
    assert asyncio.run(report(probe, owned, timeout=1.0)) is True and probe.started
    assert value("flashpoint_consumer_lag_messages", topic="t-report", partition="0") == 30
    assert value("flashpoint_consumer_lag_seconds", topic="t-report", partition="0") == 10.0
    assert value("flashpoint_consumer_lag_messages", topic="t-report", partition="1") == 0
    assert value("flashpoint_consumer_lag_messages", topic="t-report", partition="2") is None
    forget(owned)
    assert value("flashpoint_consumer_lag_messages", topic="t-report", partition="0") is None


def test_a_failed_sample_is_counted_and_keeps_the_worker_going() -> None:
    before = value("flashpoint_lag_probe_errors_total") or 0.0
    assert asyncio.run(report(FakeProbe(ConnectionError("broker down")), {("t", 0)}, timeout=1.0)) is False
    assert value("flashpoint_lag_probe_errors_total") == before + 1
