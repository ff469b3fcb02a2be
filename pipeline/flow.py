"""The three stream steps as plain functions: the Faust agents call these and only
move bytes between topics.

1. :func:`ingest` (stateless, batched): bytes -> valid mention (:mod:`pipeline.mention`)
   -> brands (:mod:`pipeline.brands`) -> complaint verdict
   (:mod:`pipeline.classification`), or a dead letter. An original post that names no
   watched brand goes on too (counted as unmatched): the brand's own account may answer
   in its conversation, and so claim it.
2. :func:`track` (stateful, one mention at a time, partitioned by cascade): cascade state
   (:mod:`pipeline.reach`) -> complaints and draft escalations for the desk
   (:mod:`pipeline.escalation.policy`).
3. :func:`desk` (stateful, keyed by brand): customer history, pile-ons, lifecycle
   and feedback -> escalation events (:mod:`pipeline.escalation.desk`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from pipeline import escalation, metrics
from pipeline.brands import Watchlist
from pipeline.classification.topics import Routed, TopicIndex
from pipeline.classification.verdict import Verdict
from pipeline.escalation import Policies, Policy
from pipeline.escalation.desk import Desk, Outcome
from pipeline.mention import InvalidMention, parse
from pipeline.reach import CascadeState, CascadeTracker, Forecaster, forecast_due, outlook
from pipeline.records import BrandMatch, BrandSignal, ClassifiedBatch, ClassifiedMention, DeadLetter, Mention

log = logging.getLogger(__name__)


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
    timestamp: float | None = None  # Kafka's, Unix seconds

    def dead_letter(self, reason: str, code: str, now: datetime) -> DeadLetter:
        return DeadLetter(reason, self.topic, self.partition, self.offset, now, code=code)


@dataclass
class IngestResult:
    forward: list[ClassifiedMention] = field(default_factory=list)
    dead: list[tuple[Incoming, DeadLetter]] = field(default_factory=list)
    unmatched: int = 0  # original posts naming no watched brand (forwarded all the same)
    # What the model did, for the caller's metrics: ingest may run in another process.
    batch_sizes: list[int] = field(default_factory=list)  # texts per predict() call that succeeded
    inference_seconds: list[float] = field(default_factory=list)
    model_errors: int = 0

    def encoded(self, partitions: int) -> Encoded:
        """The same, ready to send: what crosses back from a worker's ingest process.
        ``partitions``: of ``topic_classified`` (one record per partition)."""
        return Encoded(
            forward=ClassifiedBatch.pack(self.forward, partitions),
            forwarded=len(self.forward),
            classified=sum(1 for cm in self.forward if cm.complaint_probability is not None),
            dead=self.dead,
            unmatched=self.unmatched,
            batch_sizes=self.batch_sizes,
            inference_seconds=self.inference_seconds,
            model_errors=self.model_errors,
        )


@dataclass
class Encoded:
    forward: list[tuple[int, bytes]]  # (partition, ClassifiedBatch JSON)
    forwarded: int  # mentions in them
    classified: int
    dead: list[tuple[Incoming, DeadLetter]]
    unmatched: int
    batch_sizes: list[int]
    inference_seconds: list[float]
    model_errors: int


def ingest(
    batch: Sequence[Incoming],
    watchlist: Watchlist,
    model: Classifier,
    now: datetime,
    topics: TopicIndex | None = None,
) -> IngestResult:
    result = IngestResult()
    keep: list[tuple[Incoming, Mention, tuple[Any, ...], str | None]] = []
    for msg in batch:
        try:
            mention = parse(msg.value)
        except InvalidMention as exc:
            result.dead.append((msg, msg.dead_letter(str(exc), exc.code, now)))
            continue
        except Exception as exc:
            # A decoder bug must cost one dead letter, never the worker: the message
            # keeps its bytes in the dead-letter topic for a replay once fixed.
            log.exception(
                "decoder failed", extra={"topic": msg.topic, "partition": msg.partition, "offset": msg.offset}
            )
            reason = f"could not be decoded ({type(exc).__name__}); reported as a Flashpoint bug"
            result.dead.append((msg, msg.dead_letter(reason, "decoder_error", now)))
            continue
        brands = watchlist.match(mention)
        own = watchlist.account_of(mention)
        if not brands and mention.is_root and own is None:
            # Kept, and classified: a conversation that names a brand only by a handle
            # the watchlist lacks is still the brand's once its account answers there.
            result.unmatched += 1
        keep.append((msg, mention, brands, own))

    # Reposts take their root's verdict, and a brand's own posts are the brand talking,
    # not a customer complaining: neither is classified.
    to_classify = [i for i, (_, m, _, own) in enumerate(keep) if m.kind != "repost" and own is None]
    by_index = _classify(model, [keep[i][1] for i in to_classify], to_classify, result)
    for i, (msg, mention, brands, own) in enumerate(keep):
        v = by_index.get(i)
        if v is None and mention.kind != "repost" and own is None:
            reason = "model: the complaint model failed on this text alone (see the worker log)"
            result.dead.append((msg, msg.dead_letter(reason, "model_error", now)))
            continue
        if v is not None and topics is not None:
            brands = tuple(_routed(b, topics.route(b.brand, v.embedding)) for b in brands)
        result.forward.append(
            ClassifiedMention(
                mention=mention,
                brands=brands,
                complaint_probability=v.complaint_probability if v else None,
                complaint_severity=v.severity if v else None,
                model_version=model.version if v else None,
                arrived_at=msg.timestamp,
                brand_account=own,
            )
        )
    return result


def _routed(b: BrandMatch, r: Routed) -> BrandMatch:
    return BrandMatch(b.brand, b.addressed, b.via, r.topic, r.team)


def _classify(model: Classifier, mentions: list[Mention], index: list[int], result: IngestResult) -> dict[int, Verdict]:
    """Verdicts by position in the batch. A failing batch is retried text by text, so
    one text that breaks the model costs a dead letter, not the batch or the worker."""
    if not mentions:
        return {}
    texts = [m.text for m in mentions]
    started = time.perf_counter()
    try:
        verdicts = dict(zip(index, model.predict(texts), strict=True))
        result.batch_sizes.append(len(texts))
        result.inference_seconds.append(time.perf_counter() - started)
        return verdicts
    except Exception:
        result.model_errors += 1
        log.exception("classification batch of %d texts failed; retrying one by one", len(texts))
    out = {}
    for i, m in zip(index, mentions, strict=True):
        try:
            out[i] = model.predict([m.text])[0]
        except Exception:
            result.model_errors += 1
            log.exception(
                "classification failed for one text", extra={"mention_id": m.key, "cascade_id": m.cascade_key}
            )
    return out


def track(
    cm: ClassifiedMention,
    tracker: CascadeTracker,
    policy: Policies | Policy,
    now: datetime,
    source: str,
    forecaster: Forecaster | None = None,
    partition: int = -1,
) -> list[BrandSignal]:
    """Fold one mention into its cascade. What the escalation desk must hear of it:
    the complaint it is (for customer history and pile-ons), and the escalations it
    triggers, as draft events."""
    state = tracker.apply(cm, partition, now.timestamp())
    if state is None:
        return []
    metrics.CASCADE_EVENTS_BY_KIND[cm.mention.kind].inc()
    signals = complaint_signals(cm, state, policy)
    # Forecasting costs a few hundred microseconds: only for cascades that may escalate,
    # and for a large one only as it grows (forecast_due).
    ahead = None
    if forecaster is not None and escalation.worth_deciding(state, policy):
        if forecast_due(state, cm.mention.kind):
            ahead = outlook(state, forecaster)
        decisions = escalation.decide(state, policy, ahead)
        if ahead is None and escalation.pending(state, decisions):
            # Something is published now: at the level the forecast gives, and with it.
            ahead = outlook(state, forecaster)
            decisions = escalation.decide(state, policy, ahead)
    else:
        decisions = escalation.decide(state, policy, None)
    moves = escalation.transitions(state, decisions)
    if moves:
        tracker.save(state)
    author = state.customer_id
    for d, action in moves:
        draft = escalation.event(state, d, action, now=now, source=source, outlook=ahead)
        signals.append(
            BrandSignal(
                "decision", d.brand.brand, now.isoformat(), draft=draft, author_id=author, arrived_at=cm.arrived_at
            )
        )
    return signals


def complaint_signals(cm: ClassifiedMention, state: CascadeState, policy: Policies | Policy) -> list[BrandSignal]:
    """A complaint post for each brand it is about, by each brand's own floor: a
    customer's post (root, reply or quote) that the model calls a complaint, about the
    brands it names and its conversation's. A brand's own posts are never classified,
    so never complaints. ``own``: the author is the conversation's customer (only
    their own conversations make a customer's history)."""
    m, p = cm.mention, cm.complaint_probability
    if p is None or cm.brand_account is not None:
        return []
    named = {b.brand: b for b in state.brands}
    named.update({b.brand: b for b in cm.brands})
    # Each brand's probability: its policy's complaint share applied.
    for_brand = {b: policy.of(b).probability(p) for b in named}
    brands = [b for b in named.values() if for_brand[b.brand] >= policy.of(b.brand).min_complaint_probability]
    own = m.author.id == state.customer_id
    return [
        BrandSignal(
            "complaint",
            b.brand,
            m.created_at.isoformat(),
            complaint={
                "author_id": m.author.id,
                "author_handle": m.author.handle,
                "author_followers": m.author.followers,
                "cascade_key": state.key,
                "post_key": m.key,
                "url": m.url,
                "text": m.text,
                "at": m.created_at.isoformat(),
                "addressed": b.addressed,
                "topic": b.topic,
                "team": b.team,
                "probability": round(for_brand[b.brand], 4),
                "root": m.is_root,
                "own": own,
            },
            arrived_at=cm.arrived_at,
        )
        for b in brands
    ]


def desk(signal: BrandSignal, the_desk: Desk, partition: int, now: datetime) -> Outcome:
    """The escalation desk's step: escalations to publish, corrections to record, or a
    reason to dead-letter the signal (feedback naming no known escalation)."""
    out = the_desk.handle(signal, partition, now)
    for ev in out.events:
        metrics.ESCALATIONS.labels(ev["data"]["severity"], ev["data"]["action"]).inc()
    return out
