"""Seven fixes to faust-streaming 0.15.3, applied when the worker builds its app
(numbered as in docs/faust-fixes.md, whose 6 and 7 live in pipeline/checkpoint.py).

1. Table recovery skipped changelogs under exactly_once. To find where each changelog
ends, faust asks its consumer for ``last_stable_offset(tp)``. aiokafka only knows that
value once a fetch for the partition has come back, and before that it returns None.
Faust reads None as "empty changelog" (-1) and starts the tables empty. A worker
restarted after a crash then lost its state: seen here as an escalation published a
second time after SIGKILL, in about two runs of three once the worker had six tables.
The fix asks the broker instead, with ``end_offsets``. aiokafka sends that
ListOffsets request with the consumer's isolation level, read_committed under
exactly_once, so the broker answers with the last stable offset itself. Related
reports: robinhood/aiokafka#7 and faust-streaming/faust#597.

It also waits until no transaction is pending on those partitions. Otherwise a worker
restarted right after SIGKILL could measure the last stable offset while the killed
worker's last commit was still being completed by the broker. Recovery then stopped
short of records that became committed a moment later, with their source offsets
committed too: the fault suite saw cascades lose reposts and escalations go missing.

2. Records fetched before a seek were delivered after it. When recovery ends, Faust
resumes the stream partitions, then seeks them to their committed offsets. Its fetch
loop can by then hold a batch aiokafka returned before the seek took effect, from
further on. Faust delivers it after the seek: it sees a jump from the committed
offset, books the offsets in between as done (a "gap", meant for transaction markers)
and drops the re-fetched records from the committed offset up to that batch as
already read. Whatever of those offsets this process had not delivered and processed
before the seek was skipped, and its offsets committed. The fault suite, with eight
SIGKILLs at other moments than its default, saw such a jump on the mentions
partitions at one restart in each of three runs (two with the fetch bound, one with
Faust's own fetches). The fix counts each partition's seeks
in aiokafka's fetcher, as they happen, stamps every fetch with the counts it saw when
it came back, and drops a fetched record whose partition was sought since: aiokafka
fetches it again from the sought offset.

3. Table recovery skipped changelog records it had not yet been handed. A changelog
whose last offsets are transaction markers never delivers a record at its highwater,
so Faust's recovery, after two 5 s waits with nothing in its queue, marks a partition
done once the consumer's position has reached the highwater, and from then on ignores
that partition's records below it. The count of waits starts before recovery does (a
restarted worker idles about 10 s while the group waits for its dead member), so the
first empty wait of a recovery could mark partitions done 1.6 to 1.9 s in, when
aiokafka had returned their records (its position had moved) but Faust's fetch loop
had not handed them to recovery yet. The fault suite, eight kills at seed 101 with
Faust's own fetches, saw that at 4 of 8 restarts, and a lifecycle update so skipped
let one escalation be published twice. The consumer's position as recovery sees it
is now held back to the first record the fetch loop has not handed on.

4. Records fetched during the seek after a recovery were dropped as already read.
Faust's ``perform_seek`` seeks each partition in aiokafka, awaiting each one's committed
offset, and resets its own read offsets only when all are done. A fetch from a
partition already sought could reach the fetch loop in between and meet the read
offset of the records handed to it before the recovery (with the flow suspended, so
never processed): Faust dropped them as already read, booked them as a gap when the
next fetch came, and committed past them. The fault suite, with the fetch bound and
five SIGKILLs at seed 4, lost 50 mentions on each of two partitions that way (100
mentions, 10 escalations). The fetch loop now waits while ``perform_seek`` runs.

5. Standby recovery sought to an invalid offset. Faust's ``Recovery._seek_offsets``
maps only -1 to 0; a standby changelog partition with no valid offset reached
aiokafka's seek, which raised "Offset must be a positive integer": recovery crashed and
the worker stopped (seen in the rebalance scenario, when the killed worker came back
and the survivor's standbys were assigned). Such a partition is now read from its start.

8. Transactional producers of partitions that moved to another worker were kept.
On a rebalance Faust stops the producers of the revoked partitions, but it leaves out
any partition that became a standby here, and with standby replicas (the default) a
partition a worker loses to a joining one usually does. The kept producer is fenced by
the new owner. When the partition comes back (the other worker dies), Faust reuses
it: ``begin_transaction`` fails ("Invalid state transition IN_TRANSACTION"), the first
send fails with "Can't send messages while not in transaction", and the worker starts
over (the rebalance scenario, 2026-12-07). The producers of every transactional id
this worker no longer holds as active are now stopped first, so a partition that
comes back gets a fresh producer.

9. The first record fetched from a recovery's seek could be emptied out of its stream.
Recovery ends with the seek, then resumes Faust's flow control, which empties every
stream's queue, then the consumer's flow. The flow control has been resumed since
recovery began (to read the changelogs), so a record the fetch loop delivered between
the seek and that point went into a queue about to be emptied: never processed, with
its read offset taken. Faust then committed past it, as its commit counts an offset
one past the committed one as contiguous (it reads the committed offset as the last
one processed, where Kafka's is the next to read). The fault suite, with the fetch
bound, lost one mention that way in about one run in seven (2026-12-07: offset 771 of
mentions[3], the first record after the seek to 771). The fetch loop, held during the
seek since fix 4, is now held until the flow resumes.

Faust's gap bookings of more than one offset, aiokafka's seeks and the records fix 2
drops are logged, so a skipped record shows in the worker's log.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from typing import Any, NamedTuple

from aiokafka import TopicPartition
from aiokafka.consumer.fetcher import Fetcher
from faust.tables.recovery import Recovery
from faust.transport.consumer import Consumer, TransactionManager
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread
from faust.transport.drivers.aiokafka import Consumer as AIOKafkaConsumer

from pipeline.metrics import STALE_RECORDS

log = logging.getLogger(__name__)

_applied = False
# The library methods as they were before apply() replaced them, by the names check()
# gives: the tests show each still behaves as the fix's bug report says.
ORIGINALS: dict[str, Any] = {}
# At most the transaction timeout: by then the broker has aborted any transaction left
# open by a killed worker.
SETTLE_SECONDS = 60.0


async def _log_ends(consumer: Any, partitions: list[Any]) -> dict[Any, int] | None:
    """The end of each partition's log, open transactions included (ListOffsets,
    read_uncommitted), or None when a leader is unknown."""
    from aiokafka.protocol.offset import OffsetRequest

    client = consumer._client
    await client._maybe_wait_metadata()
    by_node: dict[int, dict[str, list[tuple[int, int]]]] = defaultdict(lambda: defaultdict(list))
    for tp in partitions:
        node = client.cluster.leader_for_partition(tp)
        if node is None or node < 0:
            return None
        by_node[node][tp.topic].append((tp.partition, -1))
    ends: dict[Any, int] = {}
    for node, topics in by_node.items():
        response = await client.send(node, OffsetRequest(-1, 0, list(topics.items())))
        for topic, parts in response.topics:
            for part, error_code, *info in parts:
                if error_code:
                    return None
                ends[TopicPartition(topic, part)] = info[-1]
    return ends


class Stamp(NamedTuple):
    """What a fetch had seen when it came back: whose fetcher, and the seek count of
    each partition it returned."""

    source: int
    seeks: dict[Any, int]


class SeekLedger:
    """How many times each fetcher has sought each partition, counted in the same step
    as the seek. A record is stale when its partition was sought after its fetch came
    back: aiokafka fetches it again from the sought offset."""

    def __init__(self) -> None:
        self._seeks: defaultdict[tuple[int, Any], int] = defaultdict(int)
        self.dropped = 0

    def sought(self, fetcher: object, tp: Any) -> None:
        self._seeks[id(fetcher), tp] += 1

    def stamp(self, fetcher: object, partitions: Iterable[Any]) -> Stamp:
        return Stamp(id(fetcher), {tp: self._seeks[id(fetcher), tp] for tp in partitions})

    def stale(self, stamp: Stamp | None, tp: Any) -> bool:
        if stamp is None or tp not in stamp.seeks:
            return False
        return stamp.seeks[tp] != self._seeks[stamp.source, tp]


# One per process: a worker runs one app, whose consumer has one fetcher.
LEDGER = SeekLedger()

# Each app's fetch bound for its worker consumer (max wait in ms, min bytes): Faust
# hard-codes a 1.5 s wait and 1 byte (see bound_fetches).
FETCH_LIMITS: weakref.WeakKeyDictionary[Any, tuple[int, int]] = weakref.WeakKeyDictionary()


def bound_fetches(app: Any, max_wait_seconds: float, min_bytes: int) -> None:
    """Set how long the broker may hold ``app``'s worker-consumer fetches, and for how
    many bytes. Faust creates that consumer with ``fetch_max_wait_ms=1500`` and
    ``fetch_min_bytes=1`` whatever its settings say; aiokafka leaves a partition whose
    fetched records are still unread out of the fetch in flight, so a drained partition
    can wait for the whole 1.5 s (the fetch stall: the seventh round of
    docs/decisions/2026-11-27-performance-rounds.md)."""
    FETCH_LIMITS[app] = (max(1, round(max_wait_seconds * 1000)), min_bytes)


class Fetched(dict[Any, Any]):
    """aiokafka's records by partition, stamped when they came back."""

    stamp: Stamp


class Handover:
    """Per partition, the first record aiokafka has returned that Faust's fetch loop has
    not handed on yet (to an agent, or to table recovery's queue)."""

    def __init__(self) -> None:
        self._first: dict[Any, int] = {}
        self._last: dict[Any, int] = {}

    def batch(self, records: Mapping[Any, Any]) -> None:
        """A new fetch result: the fetch loop asks for one only when done with the last."""
        self._first = {tp: rs[0].offset for tp, rs in records.items() if rs}
        self._last = {tp: rs[-1].offset for tp, rs in records.items() if rs}

    def handed(self, tp: Any, offset: int) -> None:
        if tp not in self._first:
            return
        if offset >= self._last[tp]:
            del self._first[tp]
        else:
            self._first[tp] = max(self._first[tp], offset + 1)

    def position(self, tp: Any, fetched: int | None) -> int | None:
        """aiokafka's position, held back to the first record not handed on yet."""
        first = self._first.get(tp)
        return fetched if first is None or fetched is None else min(fetched, first)


HANDOVER = Handover()

Getmany = Callable[[Any, float], AsyncIterator[tuple[Any, Any]]]


def fresh_only(getmany: Getmany, ledger: SeekLedger, handover: Handover) -> Getmany:
    """Faust's ``Consumer.getmany``, without the records fetched before their
    partition's latest seek (the stamp is left on the consumer by
    ``_wait_next_records``, which ``getmany`` calls before its first record), noting in
    ``handover`` each record the fetch loop is done with."""

    async def _getmany(self: Any, timeout: float) -> AsyncIterator[tuple[Any, Any]]:
        async for tp, message in getmany(self, timeout):
            seeking: asyncio.Event | None = getattr(self, "_flashpoint_seeking", None)
            if seeking is not None and not seeking.is_set():
                # Fixes 4 and 9: nothing reaches Faust's fetch loop from a seek until
                # the flow resumes (see hold_during_seeks); a record fetched before the
                # seek is stale after it.
                await seeking.wait()
            # Checked at each record, not once per batch: the batch is delivered one
            # awaited record at a time, and the seek can land in between.
            if ledger.stale(getattr(self, "_flashpoint_stamp", None), tp):
                ledger.dropped += 1
                STALE_RECORDS.inc()
                where = f"{tp.topic}[{tp.partition}]@{message.offset}"
                log.info("%s fetched before the partition's latest seek: dropped", where)
            else:
                # The loop asks for the next record only once it has handed this one on.
                yield tp, message
            handover.handed(tp, message.offset)

    return _getmany


def hold_during_seeks(perform_seek: Callable[[Any], Awaitable[None]]) -> Callable[[Any], Awaitable[None]]:
    """Faust's ``Consumer.perform_seek``, with the fetch loop held from its start until
    the flow resumes (:func:`release_on_resume`).

    Fix 4: it seeks each partition in aiokafka (one at a time, awaiting each committed
    offset) and only then resets Faust's read offsets to the committed ones. A record
    fetched from a partition already sought, and reaching the fetch loop in between,
    met the read offset of the records delivered before: it was dropped as already
    read, the next one booked the offsets in between as a gap, and their commit
    skipped them.

    Fix 9: after the seek, recovery resumes Faust's flow control, which empties every
    stream's queue. A record the loop delivered in between (the first one fetched from
    a sought offset) was emptied out unprocessed, with its read offset taken."""

    async def _perform_seek(self: Any) -> None:
        held: asyncio.Event | None = getattr(self, "_flashpoint_seeking", None)
        if held is None or held.is_set():
            held = self._flashpoint_seeking = asyncio.Event()
        try:
            await perform_seek(self)
        finally:
            # Without fix 9's resume_flow (reverted, say) nothing else would release it.
            if not getattr(getattr(self, "resume_flow", None), "releases_seek_hold", False):
                held.set()

    return _perform_seek


def release_on_resume(resume_flow: Callable[[Any], None]) -> Callable[[Any], None]:
    """Faust's ``Consumer.resume_flow``, releasing the fetch loop held since the last
    seek. Recovery calls it right after resuming flow control (which empties the stream
    queues) in each of its two ways of ending, and at the start of each recovery."""

    def _resume_flow(self: Any) -> None:
        resume_flow(self)
        held: asyncio.Event | None = getattr(self, "_flashpoint_seeking", None)
        if held is not None:
            held.set()

    _resume_flow.releases_seek_hold = True  # type: ignore[attr-defined]
    return _resume_flow


def _stamp_fetches(ledger: SeekLedger, handover: Handover) -> None:
    seek_to = Fetcher.seek_to

    def _seek_to(self: Any, tp: Any, offset: int) -> None:
        # Counted first: a fetch stamped after the count but before the seek would pass
        # as fresh, which is what happened before this fix; never the other way round,
        # which would drop records aiokafka does not fetch again.
        ledger.sought(self, tp)
        log.info("%s[%d] sought to offset %d", tp.topic, tp.partition, offset)
        seek_to(self, tp, offset)

    fetch_records = AIOKafkaConsumerThread._fetch_records

    async def _fetch_records(
        self: Any, consumer: Any, active_partitions: Any, timeout: float | None = None, max_records: int | None = None
    ) -> Any:
        records = await fetch_records(self, consumer, active_partitions, timeout=timeout, max_records=max_records)
        if not records:
            return records
        # Stamped in the consumer's thread in the same step as the fetch returns, so
        # no seek made there comes in between.
        fetched = Fetched(records)
        fetched.stamp = ledger.stamp(consumer._fetcher, records)
        return fetched

    wait_next_records = Consumer._wait_next_records

    async def _wait_next_records(self: Any, timeout: float) -> Any:
        records, active = await wait_next_records(self, timeout)
        self._flashpoint_stamp = getattr(records, "stamp", None)
        handover.batch(records or {})
        return records, active

    position = AIOKafkaConsumer.position

    async def _position(self: Any, tp: Any) -> int | None:
        return handover.position(tp, await position(self, tp))

    ORIGINALS.update(
        {
            "aiokafka Fetcher.seek_to": seek_to,
            "faust AIOKafkaConsumerThread._fetch_records": fetch_records,
            "faust Consumer._wait_next_records": wait_next_records,
            "faust Consumer.getmany": Consumer.getmany,
            "faust aiokafka Consumer.position": position,
        }
    )
    Fetcher.seek_to = _seek_to
    AIOKafkaConsumerThread._fetch_records = _fetch_records  # type: ignore[method-assign]
    Consumer._wait_next_records = _wait_next_records  # type: ignore[method-assign]
    Consumer.getmany = fresh_only(Consumer.getmany, ledger, handover)  # type: ignore[method-assign,assignment]
    ORIGINALS["faust Consumer.perform_seek"] = Consumer.perform_seek
    Consumer.perform_seek = hold_during_seeks(Consumer.perform_seek)  # type: ignore[method-assign,assignment]
    ORIGINALS["faust Consumer.resume_flow"] = Consumer.resume_flow
    Consumer.resume_flow = release_on_resume(Consumer.resume_flow)  # type: ignore[method-assign,assignment]
    # Only table recovery asks Faust's consumer for a position: to end a changelog whose
    # last offsets are transaction markers once the position passes them. aiokafka's
    # position passes them as soon as a fetch returns, while the fetch loop may still be
    # handing that fetch's records to recovery, which then skipped them (fix 3).
    AIOKafkaConsumer.position = _position  # type: ignore[method-assign]


# The releases these fixes were written and tested against (pyproject.toml pins them).
PATCHED_FOR = {"faust-streaming": "0.15.3", "mode-streaming": "0.7.1", "aiokafka": "0.14.0"}


def _patched() -> dict[str, tuple[object, str]]:
    """Every library attribute the fixes replace or read, by the name a message gives."""
    from aiokafka.client import AIOKafkaClient
    from aiokafka.cluster import ClusterMetadata
    from aiokafka.protocol import offset

    return {
        "aiokafka Fetcher.seek_to": (Fetcher, "seek_to"),
        "aiokafka AIOKafkaClient._maybe_wait_metadata": (AIOKafkaClient, "_maybe_wait_metadata"),
        "aiokafka AIOKafkaClient.send": (AIOKafkaClient, "send"),
        "aiokafka ClusterMetadata.leader_for_partition": (ClusterMetadata, "leader_for_partition"),
        "aiokafka protocol.offset.OffsetRequest": (offset, "OffsetRequest"),
        "faust AIOKafkaConsumerThread._fetch_records": (AIOKafkaConsumerThread, "_fetch_records"),
        "faust AIOKafkaConsumerThread._highwaters": (AIOKafkaConsumerThread, "_highwaters"),
        "faust AIOKafkaConsumerThread._ensure_consumer": (AIOKafkaConsumerThread, "_ensure_consumer"),
        "faust AIOKafkaConsumerThread._create_worker_consumer": (AIOKafkaConsumerThread, "_create_worker_consumer"),
        "faust Consumer._wait_next_records": (Consumer, "_wait_next_records"),
        "faust Consumer.getmany": (Consumer, "getmany"),
        "faust Consumer._add_gap": (Consumer, "_add_gap"),
        "faust Consumer.perform_seek": (Consumer, "perform_seek"),
        "faust Consumer.resume_flow": (Consumer, "resume_flow"),
        "faust Recovery._seek_offsets": (Recovery, "_seek_offsets"),
        "faust TransactionManager.on_rebalance": (TransactionManager, "on_rebalance"),
        "faust TransactionManager._tps_to_transactional_ids": (TransactionManager, "_tps_to_transactional_ids"),
        "faust TransactionManager._stop_transactions": (TransactionManager, "_stop_transactions"),
        "faust aiokafka Consumer.position": (AIOKafkaConsumer, "position"),
    }


def check(versions: Mapping[str, str] | None = None) -> list[str]:
    """What is wrong for the fixes to apply: a library at another version than they were
    written for, or an attribute they replace or read that is gone. Empty: all is as
    tested. ``versions``: the installed ones (read from the environment by default)."""
    from importlib.metadata import PackageNotFoundError, version

    problems = []
    for dist, wanted in PATCHED_FOR.items():
        try:
            have = versions[dist] if versions is not None else version(dist)
        except (KeyError, PackageNotFoundError):
            have = "not installed"
        if have != wanted:
            problems.append(f"{dist} is {have}, but pipeline/faust_fixes.py was written and tested for {wanted}")
    for name, (owner, attr) in _patched().items():
        if not callable(getattr(owner, attr, None)):
            problems.append(f"{name} is gone: a fix in pipeline/faust_fixes.py replaces or calls it")
    # Instance attributes the fixes read (set in the constructors, so not on the class).
    import inspect

    from aiokafka import AIOKafkaConsumer as KafkaConsumer

    init = inspect.getsource(KafkaConsumer.__init__)
    for attr in ("_client", "_fetcher", "_fetch_max_wait_ms", "_fetch_min_bytes"):
        if f"self.{attr} =" not in init:
            problems.append(f"aiokafka AIOKafkaConsumer.{attr} is gone: a fix in pipeline/faust_fixes.py reads it")
    from faust.transport.drivers.aiokafka import Producer

    if not isinstance(getattr(Producer, "_transaction_producers", None), dict):
        problems.append("faust aiokafka Producer._transaction_producers is gone: fix 8 in faust_fixes.py reads it")
    return problems


class UnpatchedLibraries(RuntimeError):
    """The libraries are not what the fixes were written for: the worker would run
    with the races they close open again."""


def apply() -> None:
    global _applied
    if _applied:
        return
    problems = check()
    if problems:
        raise UnpatchedLibraries(
            "the worker will not start unpatched: " + "; ".join(problems) + ". Install the pinned versions "
            "(pip install -e .) or port the fixes and their tests to the new release."
        )

    async def _highwaters(self: Any, partitions: list[Any]) -> Mapping[Any, int]:
        consumer = self._ensure_consumer()
        offsets: Mapping[Any, int] = await consumer.end_offsets(partitions)
        # A transaction still open or completing (a killed worker's commit whose markers
        # are not written yet) holds the last stable offset back; recovery would stop
        # there and never read the records it commits. Wait until nothing is pending.
        deadline = time.monotonic() + SETTLE_SECONDS
        while time.monotonic() < deadline:
            written = await _log_ends(consumer, partitions)
            if written is None or all(offsets[tp] >= written.get(tp, offsets[tp]) for tp in partitions):
                break
            await asyncio.sleep(0.5)
            offsets = await consumer.end_offsets(partitions)
        else:
            log.warning("changelog transactions still open after %.0f s; recovering to what is stable", SETTLE_SECONDS)
        return offsets

    add_gap = Consumer._add_gap

    async def _add_gap(self: Any, tp: Any, offset_from: int, offset_to: int) -> None:
        # Offsets Faust will commit as done without having delivered them: transaction
        # markers (one offset each, so at debug), aborted records, or records skipped.
        # Logged, so that a skip shows.
        # (Faust passes the offset it is delivering as offset_to.)
        log.log(
            logging.DEBUG if offset_to - offset_from <= 1 else logging.INFO,
            "offsets %d to %d of %s[%d] booked as read without delivery (committed %s)",
            offset_from,
            offset_to - 1,
            tp.topic,
            tp.partition,
            self._committed_offset.get(tp),
        )
        await add_gap(self, tp, offset_from, offset_to)

    ORIGINALS["faust Consumer._add_gap"] = add_gap
    Consumer._add_gap = _add_gap  # type: ignore[method-assign]

    seek_offsets = Recovery._seek_offsets

    async def _seek_offsets(self: Any, consumer: Any, tps: Any, offsets: Any, title: str) -> None:
        # Fix 5: Faust maps only -1 ("nothing read yet") to 0; a standby partition with no
        # offset recorded reached aiokafka's seek as an invalid offset ("Offset must be a
        # positive integer"), which crashed recovery and stopped the worker. Reading such
        # a changelog from its start is always safe.
        valid = Counter({tp: offsets[tp] if isinstance(offsets[tp], int) and offsets[tp] >= -1 else -1 for tp in tps})
        await seek_offsets(self, consumer, tps, valid, title)

    ORIGINALS["faust Recovery._seek_offsets"] = seek_offsets
    Recovery._seek_offsets = _seek_offsets  # type: ignore[method-assign]

    on_rebalance = TransactionManager.on_rebalance

    async def _on_rebalance(self: Any, assigned: Any, revoked: Any, newly_assigned: Any) -> None:
        # Fix 8: Faust stops the producers of ``revoked`` less those now standbys here, so
        # a partition lost to another worker kept its (fenced) producer. Stop every
        # producer this worker no longer holds an active partition for.
        held = self._tps_to_transactional_ids(assigned)
        stale = sorted(set(self.producer._transaction_producers) - held)
        if stale:
            log.info("stopping the transactional producers of partitions now elsewhere: %s", ", ".join(stale))
            await self._stop_transactions(stale)
        await on_rebalance(self, assigned, revoked, newly_assigned)

    ORIGINALS["faust TransactionManager.on_rebalance"] = on_rebalance
    TransactionManager.on_rebalance = _on_rebalance  # type: ignore[method-assign]

    ORIGINALS["faust AIOKafkaConsumerThread._highwaters"] = AIOKafkaConsumerThread._highwaters
    AIOKafkaConsumerThread._highwaters = _highwaters  # type: ignore[method-assign]

    create = AIOKafkaConsumerThread._create_worker_consumer

    def _create_worker_consumer(self: Any, transport: Any) -> Any:
        consumer = create(self, transport)
        limits = FETCH_LIMITS.get(self.app)
        if limits is not None:
            # Read by aiokafka when the consumer starts and makes its fetcher.
            consumer._fetch_max_wait_ms, consumer._fetch_min_bytes = limits
            log.info("the worker consumer's fetches wait at most %d ms for %d bytes", *limits)
        return consumer

    ORIGINALS["faust AIOKafkaConsumerThread._create_worker_consumer"] = create
    AIOKafkaConsumerThread._create_worker_consumer = _create_worker_consumer  # type: ignore[method-assign]
    _stamp_fetches(LEDGER, HANDOVER)
    _applied = True
