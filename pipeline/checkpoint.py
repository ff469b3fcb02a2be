"""The track agent's checkpoint: when its offsets are committed, and with what.

Under ``exactly_once`` faust-streaming keeps one Kafka transaction per source partition
of the track agent, and a commit ends them: the offsets and every record sent in them
become visible together, or (after a crash) none of them do. What Faust leaves open,
this class closes:

- **Commits between events only.** The lock is held from the moment the agent takes an
  event until the run of events it belongs to is acked with its table writes sent, and
  by every commit, Faust's own included (:meth:`Checkpoint.guard`). A commit therefore
  never takes an event's offset without the escalations and table writes it made.
- **Sent in the source partition's transaction.** Faust sends a plain ``topic.send``
  transactionally only to topics the app consumes; :meth:`Checkpoint.send` sends
  anything (escalations, desk signals, dead letters, changelogs) in the transaction that
  will commit the event's offset.
- **Committed before a handover.** When a rebalance starts Faust drops its bookkeeping of
  acked offsets and leaves the transactions open. :meth:`Checkpoint.handover` commits what
  the agent acked instead; Faust's own commits wait until then.
- **Nothing committed after a dropped run.** An agent that stops halfway through a
  run leaves the run's sends in the open transactions without the run's offsets. A
  later commit would make them visible, and the events would be processed and sent
  again after a restart. From then on this process commits nothing
  (:meth:`Checkpoint.detach`); when the agent failed, the worker crashes, and the
  broker aborts the open transactions when its next life's producers start.
- **Soon when it matters.** A commit comes every ``commit_interval`` seconds, or within
  one timer tick once an escalation waits and the stream has caught up (read_committed
  consumers see nothing before a commit).

It imports without Faust: ``host`` is the Faust app (or a fake in the unit tests).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol


class Host(Protocol):
    """What the checkpoint uses of the Faust app."""

    @property
    def rebalancing(self) -> bool: ...

    @property
    def in_transaction(self) -> bool: ...

    @property
    def producer(self) -> Any: ...

    @property
    def consumer(self) -> Any: ...

    async def crash(self, reason: BaseException) -> None: ...


class Acker(Protocol):
    """The agent's stream, in manual-ack mode."""

    async def ack(self, event: Any) -> bool: ...


class Writes(Protocol):
    """The run's table writes not yet sent (:class:`pipeline.tables.Changes`)."""

    async def send(self, send: Callable[[str, Any, bytes, bytes | None], Awaitable[None]]) -> int: ...


Headers = list[tuple[str, bytes]] | None


class Checkpoint:
    """The commit lock, the acked offsets and the run of events not yet acked."""

    def __init__(
        self,
        host: Host,
        changes: Writes,
        transactional_id: Callable[[Any], str],
        *,
        per_step: int,
        commit_interval: float,
    ) -> None:
        """``transactional_id``: the id of the transaction Faust keeps for a source
        partition. ``per_step``: mentions in a run while more events are queued."""
        self._host = host
        self._changes = changes
        self._transactional_id = transactional_id
        self.per_step = per_step
        self.commit_interval = commit_interval
        self.lock = asyncio.Lock()
        # The next offset to commit for each partition acked since the last commit. Faust
        # keeps the same bookkeeping but drops it when a rebalance starts, which is
        # exactly when these offsets must still be committed (handover).
        self.acked: dict[Any, int] = {}
        self._escalating = asyncio.Event()
        self._last_commit = 0.0
        self._caught_up = True
        # Faust's own Consumer.commit, once guarded, and whether Faust has ended the
        # transactions for good (at shutdown).
        self._faust_commit: Callable[..., Awaitable[Any]] | None = None
        self._ended = False
        # A run was given up unacked (see detach).
        self._dropped = False
        # The run of events taken and not acked, and whether the agent waits for more.
        self._stream: Acker | None = None
        self._run: list[Any] = []
        self._mentions = 0
        self._waiting = False
        # The agent holds the lock: from taking a run's first event to the run's end.
        self._holding = False

    # -- the agent's side ----------------------------------------------------------------

    def attach(self, stream: Acker) -> None:
        """The agent's stream, once per agent start (they restart after a crash)."""
        self._stream = stream
        self._run = []
        self._waiting = False

    async def take(self) -> None:
        """The agent took an event: the first of a run takes the lock."""
        self._waiting = False
        if not self._holding:
            await self.lock.acquire()
            self._holding = True
            self._mentions = 0

    async def done(self, event: Any, mentions: int, caught_up: bool) -> None:
        """The event is handled (``mentions`` in it). The run ends, acked, when the
        stream has caught up or holds ``per_step`` mentions: one flush and one hold of
        the lock per run, not per event."""
        self._run.append(event)
        self._mentions += mentions
        self._caught_up = caught_up
        if caught_up or self._mentions >= self.per_step:
            await self.end_run()
        self._waiting = bool(self._run)

    async def detach(self, failure: BaseException | None = None) -> None:
        """The agent stopped (``failure`` None: cancelled, the worker is stopping) or
        failed. A run it leaves halfway stays unacked, to be processed again, and its
        records sit in the open transactions: committing those would publish them
        without their offsets, so nothing is committed from here on. A failed agent
        crashes the worker (Faust would only restart the agent, on a checkpoint that can
        no longer commit, and past the run's events); the next life's producers abort
        the transactions."""
        if self._holding:
            self._run = []
            self._waiting = False
            self._drop()
        if self._dropped and failure is not None:
            # Faust would restart the agent past the run's events, never to see them again.
            await self._host.crash(
                RuntimeError(
                    f"the track agent failed halfway through a run ({type(failure).__name__}: {failure}); "
                    "the worker starts over from the committed offsets"
                )
            )

    @property
    def open_events(self) -> int:
        return len(self._run)

    async def end_run(self) -> None:
        # Taken out first: Faust's commit may end the run while the agent waits, and the
        # agent must then start a run of its own.
        events, self._run = self._run, []
        self._waiting = False
        try:
            # The run's table writes go into the open transactions first: nothing is
            # acked before its writes are in the producer.
            await self._changes.send(self.send_change)
            await self._host.producer.buffer.flush()
            assert self._stream is not None
            for event in events:
                await self._stream.ack(event)
                self.acked[event.message.tp] = event.message.offset + 1
        except BaseException:
            # Cancelled or failed before every event was acked: dropped as in detach().
            self._drop()
            raise
        self._holding = False
        self.lock.release()

    def _drop(self) -> None:
        """The run in hand is given up unacked, with its records in the open
        transactions."""
        self._dropped = True
        self._holding = False
        self.lock.release()

    @property
    def broken(self) -> bool:
        """A run was dropped with its records in the open transactions: no commit may
        follow in this process."""
        return self._dropped and self._host.in_transaction

    def escalated(self) -> None:
        """A decision for the desk or an escalation for ops was sent: commit soon."""
        self._escalating.set()

    async def send(
        self, source: Any, topic: str, key: bytes | None, value: bytes | None, headers: Headers = None
    ) -> None:
        """Send in the transaction that will commit ``source``'s offset (a TP)."""
        await self._send_for(source, topic, None, key, value, headers)

    async def send_change(self, changelog: str, source: Any, key: bytes, value: bytes | None) -> None:
        # A table's changelog partition is its source event's partition (Faust's rule).
        await self._send_for(source, changelog, source.partition, key, value, None)

    async def _send_for(
        self, source: Any, topic: str, partition: int | None, key: bytes | None, value: bytes | None, headers: Headers
    ) -> None:
        host = self._host
        if not host.in_transaction:
            await host.producer.send(topic, key, value, partition, None, headers)
            return
        await host.consumer.transactions.producer.send(
            topic, key, value, partition, None, headers, transactional_id=self._transactional_id(source)
        )

    # -- commits ---------------------------------------------------------------------------

    @property
    def guarded(self) -> bool:
        return self._faust_commit is not None

    def guard(self, consumer: Any) -> None:
        """Make Faust's own commits take the lock. Faust commits by itself in a
        rebalance (while it waits for the agents, then to end the transactions) from
        bookkeeping it has just dropped, so a transaction holding records but no acked
        offset stayed open; and on errors and at shutdown, possibly halfway through a
        run. Under exactly_once none of its commits happen in a rebalance: handover()
        commits instead."""
        original = consumer.commit

        async def commit(*args: Any, **kwargs: Any) -> bool:
            # Faust commits while it waits for the agents to ack what they took. A run
            # left open while the agent waits for more events (there will be none: Faust
            # has just emptied the queues) would keep it waiting forever.
            if self._waiting and self._run:
                await self.end_run()
            host = self._host
            if host.in_transaction and (host.rebalancing or self._ended or self.broken):
                return False
            async with self.lock:
                if self.broken:
                    return False
                done = bool(await original(*args, **kwargs))
                if host.in_transaction and kwargs.get("start_new_transaction") is False:
                    # Faust ended the transactions (shutdown): one more commit, of acks
                    # made while the agents stop, would find none and raise.
                    self._ended = True
                return done

        consumer.commit = commit
        self._faust_commit = original

    async def tick(self) -> None:
        """The commit timer: commit when due, or soon once escalations wait."""
        # Nothing is processed from a rebalance's start until recovery has sought the
        # streams back to their committed offsets, so there is nothing to commit; and a
        # commit then would use Faust's stale bookkeeping and could move a partition's
        # committed offset backwards.
        if self._host.rebalancing:
            return
        due = time.monotonic() - self._last_commit >= self.commit_interval
        # With a backlog the timer's pace is kept: a commit per run cost a saturated
        # worker 30% of its time.
        urgent = self._escalating.is_set() and self._caught_up
        if due or urgent:
            await self.commit_now()

    async def commit_now(self) -> None:
        if self._faust_commit is None:  # no partition assigned yet
            return
        async with self.lock:
            # A rebalance may have begun while this waited for the run to end: Faust's
            # bookkeeping is stale then, and handover() commits instead.
            if self._host.rebalancing or self.broken:
                return
            self._last_commit = time.monotonic()
            self._escalating.clear()
            await self._host.producer.buffer.flush()
            await self._faust_commit()
            self.acked.clear()

    async def handover(self) -> None:
        """End the transactions with what the agent acked, before a rebalance.

        Faust-streaming leaves them open: those of the partitions that move are fenced
        by their next owner, but those of the partitions this worker keeps stay open
        with records whose offsets Faust has forgotten. Their changelog records held back
        the stable offset that table recovery waits for; after 60 s the broker aborted
        them and every later send failed ("Can't send messages while not in
        transaction"). No new transactions are begun here: Faust begins one for each
        partition it assigns.
        """
        if not self._host.in_transaction:
            return
        async with self.lock:
            if self.broken:
                return
            self._escalating.clear()
            await self._host.producer.buffer.flush()
            if self.acked:
                await self._host.consumer.transactions.commit(dict(self.acked), start_new_transaction=False)
                self.acked.clear()
