"""Faust's sensor hooks, reported as Flashpoint's metrics (seconds, ``_total``)."""

from __future__ import annotations

import time
from typing import Any

from faust import Sensor

from pipeline import metrics


class KafkaSensor(Sensor):
    """Rebalances and commits, timed by Faust itself: it knows when a rebalance
    starts (partitions revoked) and ends (tables recovered), which no signal shows."""

    def on_rebalance_start(self, app: Any) -> dict[str, float]:
        metrics.REBALANCES.inc()
        return {"time_start": time.monotonic()}

    def on_rebalance_end(self, app: Any, state: dict[str, Any]) -> None:
        metrics.REBALANCE_SECONDS.observe(time.monotonic() - state["time_start"])

    def on_commit_initiated(self, consumer: Any) -> float:
        return time.monotonic()

    def on_commit_completed(self, consumer: Any, state: Any) -> None:
        metrics.COMMIT_SECONDS.observe(time.monotonic() - state)
