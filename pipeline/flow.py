"""The two stream steps as plain functions: the Faust agents call these and only move
bytes between topics.

1. :func:`ingest` (stateless, batched): bytes -> valid mention (:mod:`pipeline.mention`)
   -> brands (:mod:`pipeline.brands`) -> complaint verdict
   (:mod:`pipeline.classification`), or a dead letter, or dropped as unmatched.
2. :func:`track` (stateful, one event at a time, keyed by cascade): cascade state
   (:mod:`pipeline.reach`) -> escalation events (:mod:`pipeline.escalation`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from pipeline import escalation, metrics
from pipeline.brands import Watchlist
from pipeline.classification.model import Verdict
from pipeline.escalation import Policies, Policy
from pipeline.mention import InvalidMention, parse
from pipeline.reach import CascadeTracker, Forecaster, outlook
from pipeline.records import ClassifiedMention, DeadLetter, Mention


class Classifier(Protocol):
    version: str

    def predict(self, texts: Sequence[str], batch_size: int = ...) -> list[Verdict]: ...


@dataclass(frozen=True, slots=True)
class Incoming:
    """One consumed message, with where it came from (for the dead-letter headers)."""

    value: bytes | None
    key: bytes | None
    topic: str
    partition: int
    offset: int


@dataclass
class IngestResult:
    forward: list[ClassifiedMention] = field(default_factory=list)
    dead: list[tuple[Incoming, DeadLetter]] = field(default_factory=list)
    unmatched: int = 0


def ingest(batch: Sequence[Incoming], watchlist: Watchlist, model: Classifier, now: datetime) -> IngestResult:
    result = IngestResult()
    keep: list[tuple[Mention, tuple[Any, ...]]] = []
    for msg in batch:
        try:
            mention = parse(msg.value)
        except InvalidMention as exc:
            result.dead.append((msg, DeadLetter(str(exc), msg.topic, msg.partition, msg.offset, now)))
            continue
        brands = watchlist.match(mention)
        # A response naming no brand may still belong to a watched cascade: its root decides.
        if not brands and mention.is_root:
            result.unmatched += 1
            continue
        keep.append((mention, brands))

    # Reposts are never classified: they take their root's verdict.
    to_classify = [i for i, (m, _) in enumerate(keep) if m.kind != "repost"]
    verdicts = model.predict([keep[i][0].text for i in to_classify]) if to_classify else []
    by_index = dict(zip(to_classify, verdicts, strict=True))
    for i, (mention, brands) in enumerate(keep):
        v = by_index.get(i)
        result.forward.append(
            ClassifiedMention(
                mention=mention,
                brands=brands,
                complaint_probability=v.complaint_probability if v else None,
                complaint_severity=v.severity if v else None,
                model_version=model.version if v else None,
            )
        )
    return result


def track(
    cm: ClassifiedMention,
    tracker: CascadeTracker,
    policy: Policies | Policy,
    now: datetime,
    source: str,
    forecaster: Forecaster | None = None,
    partition: int = -1,
) -> list[dict[str, Any]]:
    """Fold one mention into its cascade; the escalation events it triggers."""
    state = tracker.apply(cm, partition, now.timestamp())
    if state is None:
        return []
    metrics.CASCADE_EVENTS.labels(cm.mention.kind).inc()
    # Forecasting costs a few hundred microseconds: only for cascades that may escalate.
    worth = forecaster is not None and escalation.worth_deciding(state, policy)
    ahead = outlook(state, forecaster) if worth and forecaster is not None else None
    moves = escalation.transitions(state, escalation.decide(state, policy, ahead))
    if not moves:
        return []
    tracker.save(state)
    return [escalation.event(state, d, action, now=now, source=source, outlook=ahead) for d, action in moves]
