"""The worker's timers, and what it does when partitions are assigned and revoked.

- ``commit``: :meth:`pipeline.checkpoint.Checkpoint.tick`, every ``URGENT_COMMIT_SECONDS``.
- ``tick``: the desk's clock for reminders, sent through Kafka (one signal per
  partition) so that reminders are decided inside the desk's transactions, like
  everything else it publishes.
- ``lag``: consumer lag, active cascades and readiness for the metrics.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import faust

from pipeline import metrics
from pipeline.checkpoint import Checkpoint
from pipeline.kafka_admin import security
from pipeline.reach import CascadeTracker
from pipeline.records import BrandSignal
from pipeline.settings import Settings
from pipeline.telemetry import lag
from pipeline.telemetry.health import Readiness
from pipeline.telemetry.lag import LagProbe

# How soon a commit follows an escalation once the stream has caught up.
URGENT_COMMIT_SECONDS = 0.05

Timer = Callable[[], Awaitable[None]]


def desk_clock(s: Settings, app: faust.App) -> Timer:
    async def tick() -> None:
        sig = BrandSignal("tick", "", datetime.now(UTC).isoformat()).to_json()
        for p in range(s.partitions):
            await app.producer.send(s.topic_desk, None, sig, p, None, None)

    return tick


class Partitions:
    """The partitions this worker consumes now, kept for the lag probe, the metrics and
    readiness, and the checkpoint's part in a rebalance."""

    def __init__(
        self, s: Settings, app: faust.App, checkpoint: Checkpoint, tracker: CascadeTracker, readiness: Readiness
    ) -> None:
        self.settings = s
        self.app = app
        self.checkpoint = checkpoint
        self.tracker = tracker
        self.readiness = readiness
        self.consumed = (s.topic_mentions, s.topic_classified, s.topic_desk, s.topic_feedback)
        self.owned: set[tuple[str, int]] = set()
        self.probe = LagProbe(s.bootstrap_servers, s.app_id, timeout=min(5.0, s.lag_interval_seconds), **security(s))

    def connect(self) -> None:
        self.app.on_partitions_assigned.connect(self.assigned)
        self.app.on_partitions_revoked.connect(self.revoked)
        self.app.on_before_shutdown.connect(self.shutdown)

    async def assigned(self, sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        if not self.checkpoint.guarded:
            self.checkpoint.guard(self.app.consumer)
        assigned = args[0] if args else kwargs.get("assigned", set())
        for name in self.consumed:
            metrics.ASSIGNED_PARTITIONS.labels(name).set(sum(1 for tp in assigned if tp.topic == name))
        self.owned.clear()
        self.owned.update((tp.topic, tp.partition) for tp in assigned if tp.topic in self.consumed)
        self.readiness.set(assigned=True, partitions=len(self.owned))

    async def revoked(self, sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        self.readiness.set(assigned=False)
        lag.forget(self.owned)
        self.owned.clear()
        # Faust has waited for the agents to ack what they took, and stopped the flow.
        await self.checkpoint.handover()

    async def shutdown(self, sender: Any, /, *args: Any, **kwargs: Any) -> None:
        await self.probe.stop()

    async def measure_lag(self) -> None:
        s = self.settings
        if await lag.report(self.probe, self.owned, timeout=s.lag_interval_seconds):
            self.readiness.set(broker_ok_at=time.monotonic())
        active = {p for t, p in self.owned if t == s.topic_classified}
        metrics.ACTIVE_CASCADES.set(self.tracker.count(active))
        self.readiness.check()  # keeps flashpoint_ready current between probes
