"""pipeline.checkpoint against a fake Kafka that keeps transactions as Kafka does: the
records sent in a transaction and the offsets committed with it become visible
together at its commit, and a crash aborts whatever is open.

Faust's side is faked as faust-streaming 0.15.3 behaves: one transaction per source
partition, a stream ack books the offset in the consumer, the consumer's commit commits
the booked offsets (and only the transactions that have one), and a rebalance drops
the booking. The broker suite (tests/broker/test_faults_*_kafka.py) runs the real thing.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import pytest

from pipeline.checkpoint import Checkpoint


class TP(NamedTuple):
    topic: str
    partition: int


CLASSIFIED_0 = TP("mentions.classified", 0)
CLASSIFIED_1 = TP("mentions.classified", 1)


def tid(tp: TP) -> str:
    return f"app-0-{tp.partition}"


@dataclass
class Kafka:
    """What read_committed consumers can see, and the transactions still open."""

    records: list[tuple[str, bytes | None]] = field(default_factory=list)  # (topic, value), committed
    offsets: dict[TP, int] = field(default_factory=dict)  # committed consumer offsets
    open: defaultdict[str, list[tuple[str, bytes | None]]] = field(default_factory=lambda: defaultdict(list))
    plain: list[tuple[str, bytes | None]] = field(default_factory=list)  # sent outside transactions

    def commit(self, offsets: dict[TP, int]) -> None:
        # Faust commits the transaction of each partition it has an offset for.
        for tp, offset in offsets.items():
            self.records += self.open.pop(tid(tp), [])
            self.offsets[tp] = offset

    def crash(self) -> None:
        """The worker died: the broker aborts its open transactions."""
        self.open.clear()

    def escalations(self) -> list[bytes | None]:
        return [v for t, v in self.records if t == "escalations"]


class TransactionProducer:
    def __init__(self, kafka: Kafka) -> None:
        self.kafka = kafka

    async def send(
        self, topic: str, key: Any, value: Any, partition: Any, ts: Any, headers: Any, *, transactional_id: str
    ) -> None:
        await asyncio.sleep(0)  # a send is a suspension point: others may run meanwhile
        self.kafka.open[transactional_id].append((topic, value))


class Transactions:
    def __init__(self, kafka: Kafka) -> None:
        self.kafka = kafka
        self.producer = TransactionProducer(kafka)
        self.commits: list[tuple[dict[TP, int], bool]] = []

    async def commit(self, offsets: dict[TP, int], start_new_transaction: bool = True) -> bool:
        await asyncio.sleep(0)
        self.commits.append((dict(offsets), start_new_transaction))
        self.kafka.commit(offsets)
        return True


class Consumer:
    """Faust's consumer: acked offsets booked by the stream, committed by commit()."""

    def __init__(self, kafka: Kafka) -> None:
        self.transactions = Transactions(kafka)
        self.booked: dict[TP, int] = {}

    async def commit(self, *args: Any, start_new_transaction: bool = True, **kwargs: Any) -> bool:
        booked, self.booked = self.booked, {}
        if not booked:
            return False
        return await self.transactions.commit(booked, start_new_transaction=start_new_transaction)


class Buffer:
    def __init__(self) -> None:
        self.flushes = 0

    async def flush(self) -> None:
        self.flushes += 1


class Producer:
    def __init__(self, kafka: Kafka) -> None:
        self.kafka = kafka
        self.buffer = Buffer()

    async def send(self, topic: str, key: Any, value: Any, partition: Any, ts: Any, headers: Any) -> None:
        self.kafka.plain.append((topic, value))


class App:
    def __init__(self, kafka: Kafka, in_transaction: bool = True) -> None:
        self.rebalancing = False
        self.in_transaction = in_transaction
        self.consumer = Consumer(kafka)
        self.producer = Producer(kafka)
        self.crashed: list[BaseException] = []

    async def crash(self, reason: BaseException) -> None:
        self.crashed.append(reason)


class Stream:
    def __init__(self, consumer: Consumer) -> None:
        self.consumer = consumer
        self.acks: list[Event] = []

    async def ack(self, event: Any) -> bool:
        self.acks.append(event)
        self.consumer.booked[event.message.tp] = event.message.offset + 1
        return True


class Message(NamedTuple):
    tp: TP
    offset: int


class Event(NamedTuple):
    message: Message


class Writes:
    """Table writes of the run (pipeline.tables.Changes): one changelog record per event."""

    def __init__(self) -> None:
        self.pending: list[TP] = []

    async def send(self, send: Any) -> int:
        pending, self.pending = self.pending, []
        for tp in pending:
            await send("app-cascades-changelog", tp, b"k", b"state")
        return len(pending)


class Worker:
    """The track agent's use of the checkpoint (pipeline.agents.track.agent)."""

    def __init__(self, kafka: Kafka, per_step: int = 100, in_transaction: bool = True) -> None:
        self.kafka = kafka
        self.app = App(kafka, in_transaction)
        self.writes = Writes()
        self.checkpoint = Checkpoint(self.app, self.writes, tid, per_step=per_step, commit_interval=1.0)
        self.stream = Stream(self.app.consumer)
        self.checkpoint.attach(self.stream)
        self.checkpoint.guard(self.app.consumer)
        self.others: list[asyncio.Future[Any]] = []  # its timer's and Faust's commits

    async def handle(self, event: Event, caught_up: bool = True) -> None:
        """Take one event, escalate and write the table for it, hand it back."""
        await self.checkpoint.take()
        tp = event.message.tp
        self.writes.pending.append(tp)
        self.checkpoint.escalated()
        await self.checkpoint.send(tp, "escalations", b"key", name(event))
        await self.checkpoint.done(event, 1, caught_up)


def event(tp: TP, offset: int) -> Event:
    return Event(Message(tp, offset))


def name(e: Event) -> bytes:
    return b"%d:%d" % (e.message.tp.partition, e.message.offset)


def consistent(kafka: Kafka, events: list[Event] | None = None) -> None:
    """Every committed escalation has its offset committed, and every committed offset
    its escalations: the two are visible together or not at all. ``events``: those
    consumed (default: offsets 0, 1, 2... of each partition)."""
    if events is None:
        events = [event(tp, o) for tp, end in kafka.offsets.items() for o in range(end)]
    covered = {name(e) for e in events if e.message.offset < kafka.offsets.get(e.message.tp, 0)}
    assert set(kafka.escalations()) == covered


async def test_an_event_is_committed_with_what_it_sent_and_wrote() -> None:
    kafka = Kafka()
    w = Worker(kafka)
    await w.handle(event(CLASSIFIED_0, 0))
    assert kafka.records == [] and kafka.offsets == {}  # nothing visible before a commit
    await w.checkpoint.commit_now()
    assert kafka.offsets == {CLASSIFIED_0: 1}
    assert sorted(kafka.records) == [("app-cascades-changelog", b"state"), ("escalations", b"0:0")]
    assert w.checkpoint.acked == {}


async def test_each_send_goes_in_its_source_partitions_transaction() -> None:
    kafka = Kafka()
    w = Worker(kafka)
    await w.handle(event(CLASSIFIED_1, 0), caught_up=False)
    assert set(kafka.open) == {tid(CLASSIFIED_1)}
    await w.handle(event(CLASSIFIED_0, 0))
    assert set(kafka.open) == {tid(CLASSIFIED_0), tid(CLASSIFIED_1)}
    assert kafka.open[tid(CLASSIFIED_0)] == [("escalations", b"0:0"), ("app-cascades-changelog", b"state")]


@pytest.mark.parametrize("whose", ["timer", "faust"])
async def test_a_commit_waits_for_the_run_it_comes_in_the_middle_of(whose: str) -> None:
    kafka = Kafka()
    w = Worker(kafka, per_step=100)
    await w.handle(event(CLASSIFIED_0, 0), caught_up=False)  # the run stays open: more are queued
    await w.checkpoint.take()
    await w.checkpoint.send(CLASSIFIED_0, "escalations", b"key", b"0:1")  # event 1 half-handled
    w.stream.consumer.booked[CLASSIFIED_0] = 1  # as if event 0 was acked by Faust's own stream
    commit = w.checkpoint.commit_now() if whose == "timer" else w.app.consumer.commit()
    task = asyncio.ensure_future(commit)
    for _ in range(10):
        await asyncio.sleep(0)
    # Committing now would commit event 1's escalation with event 0's offset: after a
    # crash, event 1 would be handled, and escalated, again.
    assert not task.done()
    assert kafka.records == []
    await w.checkpoint.done(event(CLASSIFIED_0, 1), 1, caught_up=True)
    await task
    assert kafka.offsets == {CLASSIFIED_0: 2}
    assert kafka.escalations() == [b"0:0", b"0:1"]


async def test_the_run_ends_at_per_step_mentions_while_more_are_queued() -> None:
    kafka = Kafka()
    w = Worker(kafka, per_step=3)
    for offset in range(2):
        await w.handle(event(CLASSIFIED_0, offset), caught_up=False)
    assert w.stream.acks == [] and w.checkpoint.lock.locked()
    await w.handle(event(CLASSIFIED_0, 2), caught_up=False)
    assert [e.message.offset for e in w.stream.acks] == [0, 1, 2]
    assert w.checkpoint.acked == {CLASSIFIED_0: 3} and not w.checkpoint.lock.locked()
    assert w.app.producer.buffer.flushes == 1  # one flush per run, not per event


async def test_acked_offsets_are_committed_before_a_handover() -> None:
    kafka = Kafka()
    w = Worker(kafka)
    await w.handle(event(CLASSIFIED_0, 0))
    await w.handle(event(CLASSIFIED_1, 0))
    # A rebalance starts: Faust drops its booking of acked offsets, and its own commits
    # (from that empty booking) would leave the transactions open with their records.
    w.app.rebalancing = True
    w.app.consumer.booked.clear()
    assert await w.app.consumer.commit() is False
    await w.checkpoint.tick()  # the timer does nothing in a rebalance either
    assert kafka.offsets == {}
    await w.checkpoint.handover()
    assert kafka.offsets == {CLASSIFIED_0: 1, CLASSIFIED_1: 1}
    assert sorted(kafka.escalations()) == [b"0:0", b"1:0"]
    # No new transactions: Faust begins one for each partition it is assigned.
    assert w.app.consumer.transactions.commits[-1][1] is False
    consistent(kafka)


async def test_a_revoke_while_a_run_waits_for_more_events_ends_the_run_first() -> None:
    kafka = Kafka()
    w = Worker(kafka, per_step=100)
    # The run stays open: the agent waits for the next event, which will not come,
    # because Faust stops the flow for the rebalance and waits for the agents to ack.
    await w.handle(event(CLASSIFIED_0, 0), caught_up=False)
    assert w.checkpoint.open_events == 1 and w.checkpoint.lock.locked()
    w.app.rebalancing = True
    done = await asyncio.wait_for(w.app.consumer.commit(), 1.0)  # Faust's, waiting for acks
    assert done is False
    assert w.stream.acks == [event(CLASSIFIED_0, 0)]
    assert not w.checkpoint.lock.locked()
    await w.checkpoint.handover()
    assert kafka.offsets == {CLASSIFIED_0: 1} and kafka.escalations() == [b"0:0"]
    consistent(kafka)


async def test_at_shutdown_faust_ends_the_transactions_once() -> None:
    kafka = Kafka()
    w = Worker(kafka)
    await w.handle(event(CLASSIFIED_0, 0))
    assert await w.app.consumer.commit(start_new_transaction=False) is True
    await w.handle(event(CLASSIFIED_0, 1))
    # Acks made while the agents stop: there is no transaction left to commit them in.
    assert await w.app.consumer.commit() is False
    assert kafka.offsets == {CLASSIFIED_0: 1}


async def nothing_more_commits(w: Worker) -> None:
    """Every commit the worker still makes: the timer's, Faust's (at shutdown too), a
    handover's."""
    await w.checkpoint.commit_now()
    await w.checkpoint.tick()
    assert await w.app.consumer.commit() is False
    assert await w.app.consumer.commit(start_new_transaction=False) is False
    await w.checkpoint.handover()


@pytest.mark.parametrize("halfway", [False, True])
async def test_after_a_run_is_dropped_nothing_is_committed(halfway: bool) -> None:
    """Seen in the fault suite (a broker restart): the agent failed mid-run, and
    Faust's shutdown commit then published the run's escalation, acked earlier on the
    same partition, without the run's offset; the next life sent it again."""
    kafka = Kafka()
    w = Worker(kafka)
    await w.handle(event(CLASSIFIED_0, 0))  # acked, not committed yet
    if halfway:  # the first event of a run, failing after its escalation
        await w.checkpoint.take()
        await w.checkpoint.send(CLASSIFIED_0, "escalations", b"key", b"0:1")
    else:  # a run of one handled event, waiting for more
        await w.handle(event(CLASSIFIED_0, 1), caught_up=False)
    await w.checkpoint.detach()  # cancelled: the worker is stopping
    assert not w.checkpoint.lock.locked() and w.checkpoint.broken
    await nothing_more_commits(w)
    kafka.crash()
    assert kafka.offsets == {} and kafka.escalations() == []
    assert w.app.crashed == [], "a stopping worker is not crashed"


async def test_an_agent_that_fails_mid_run_crashes_the_worker() -> None:
    w = Worker(Kafka())
    await w.checkpoint.take()
    await w.checkpoint.detach(ConnectionError("broker gone"))
    assert len(w.app.crashed) == 1
    assert "failed halfway through a run (ConnectionError: broker gone)" in str(w.app.crashed[0])
    # Between runs the agent holds nothing: its failure is Faust's to restart.
    w2 = Worker(Kafka())
    await w2.handle(event(CLASSIFIED_0, 0))
    await w2.checkpoint.detach(ConnectionError("broker gone"))
    assert w2.app.crashed == [] and not w2.checkpoint.broken
    await w2.checkpoint.commit_now()
    assert w2.kafka.offsets == {CLASSIFIED_0: 1}


async def test_without_transactions_sends_are_plain() -> None:
    kafka = Kafka()
    w = Worker(kafka, in_transaction=False)
    await w.handle(event(CLASSIFIED_0, 0))
    assert ("escalations", b"0:0") in kafka.plain
    await w.checkpoint.handover()  # nothing to hand over at least once
    assert w.app.consumer.transactions.commits == []


async def test_the_timer_commits_when_due_or_soon_after_an_escalation_once_caught_up() -> None:
    kafka = Kafka()
    w = Worker(kafka)
    w.checkpoint.commit_interval = 3600.0
    await w.checkpoint.commit_now()  # sets the pace
    await w.handle(event(CLASSIFIED_0, 0), caught_up=False)
    await w.handle(event(CLASSIFIED_0, 1), caught_up=True)
    await w.checkpoint.tick()
    assert kafka.offsets == {CLASSIFIED_0: 2}  # urgent: an escalation waits, the stream has caught up
    await w.checkpoint.take()
    w.writes.pending.append(CLASSIFIED_0)
    await w.checkpoint.done(event(CLASSIFIED_0, 2), 100, caught_up=False)  # a backlog: keep the pace
    w.checkpoint.escalated()
    await w.checkpoint.tick()
    assert kafka.offsets == {CLASSIFIED_0: 2}
    w.checkpoint.commit_interval = 0.0  # due
    await w.checkpoint.tick()
    assert kafka.offsets == {CLASSIFIED_0: 3}


STEPS = 12
SCRIPT = [event(CLASSIFIED_0 if i % 3 else CLASSIFIED_1, i) for i in range(STEPS)]


async def work(w: Worker, events: list[Event]) -> None:
    # The timer and Faust's own commits run in tasks of their own, as in the worker. A
    # run stays open only while more events are queued (the last one has caught up).
    others = w.others
    for i, e in enumerate(events):
        await w.handle(e, caught_up=i % 4 == 3 or i == len(events) - 1)
        if i % 5 == 4:
            others.append(asyncio.ensure_future(w.checkpoint.tick()))
        if i % 7 == 6:
            others.append(asyncio.ensure_future(w.app.consumer.commit()))
        if i == 8:
            # A rebalance: Faust drops its booking, commits while it waits for the
            # agents, and the worker hands over.
            w.app.rebalancing = True
            w.app.consumer.booked.clear()
            await asyncio.wait_for(w.app.consumer.commit(), 5.0)
            await asyncio.gather(*others)
            await w.checkpoint.handover()
            w.app.rebalancing = False
    await asyncio.gather(*others)
    await w.checkpoint.commit_now()


async def agent(w: Worker, events: list[Event]) -> None:
    """``work`` as the agent runs it: the checkpoint is detached however it ends."""
    try:
        await work(w, events)
    finally:
        await w.checkpoint.detach()


async def suspensions(events: list[Event]) -> int:
    task = asyncio.ensure_future(work(Worker(Kafka()), events))
    n = 0
    while not task.done():
        await asyncio.sleep(0)
        n += 1
    return n


# Enough crash points to cover every suspension point of the whole script.
CRASH_POINTS = 40


async def test_the_crash_points_cover_the_whole_run() -> None:
    assert 30 < await suspensions(SCRIPT) <= CRASH_POINTS


async def stop_after(points: int, w: Worker, task: asyncio.Future[Any]) -> None:
    """Let ``task`` and the worker's other tasks run ``points`` suspension points, then
    cancel them all."""
    for _ in range(points):
        await asyncio.sleep(0)
    for doomed in [task, *w.others]:
        doomed.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await doomed


async def take_over(kafka: Kafka) -> None:
    """A new worker reads each partition from its committed offset: in the end every
    escalation of the script is published exactly once, with its offset."""
    rest = [e for e in SCRIPT if e.message.offset >= kafka.offsets.get(e.message.tp, 0)]
    await work(Worker(kafka), rest)
    assert sorted(kafka.escalations()) == sorted(name(e) for e in SCRIPT)
    consistent(kafka, SCRIPT)


@pytest.mark.parametrize("crash_at", range(CRASH_POINTS))
async def test_a_crash_anywhere_loses_and_doubles_nothing(crash_at: int) -> None:
    """Events on two partitions, with the timer's and Faust's commits and a rebalance in
    between; the worker dies after ``crash_at`` suspension points and a new one takes
    over from the committed offsets. Every escalation is published exactly once."""
    kafka = Kafka()
    first = Worker(kafka)
    await stop_after(crash_at, first, asyncio.ensure_future(work(first, SCRIPT)))
    kafka.crash()
    consistent(kafka, SCRIPT)
    await take_over(kafka)


@pytest.mark.parametrize("stop_at", range(CRASH_POINTS))
async def test_an_agent_stopped_anywhere_then_every_commit_loses_and_doubles_nothing(stop_at: int) -> None:
    """The agent stops after ``stop_at`` suspension points while the worker lives on
    long enough for every commit it still makes (the timer's, Faust's at shutdown, a
    handover); then the worker is gone and a new one takes over."""
    kafka = Kafka()
    first = Worker(kafka)
    await stop_after(stop_at, first, asyncio.ensure_future(agent(first, SCRIPT)))
    first.app.rebalancing = False
    await first.checkpoint.commit_now()
    await first.app.consumer.commit()
    await first.app.consumer.commit(start_new_transaction=False)
    await first.checkpoint.handover()
    kafka.crash()
    consistent(kafka, SCRIPT)
    await take_over(kafka)
