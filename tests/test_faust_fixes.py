"""pipeline.faust_fixes: the version and attribute check, and each fix's bookkeeping
and patched methods. The ``test_fix_N_*`` tests run the library's own (unpatched)
methods, kept in ``faust_fixes.ORIGINALS``, to show the bug each fix report in
docs/faust-fixes.md describes, beside the patched ones. The fault suite
(tests/broker/test_faults_*_kafka.py) runs them against a real broker."""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from types import MethodType, SimpleNamespace
from typing import Any

from aiokafka.consumer.fetcher import Fetcher
from faust.transport.consumer import Consumer
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread
from faust.transport.drivers.aiokafka import Consumer as AIOKafkaDriverConsumer
from faust.transport.utils import DefaultSchedulingStrategy
from faust.types import TP

from pipeline import faust_fixes
from pipeline.metrics import STALE_RECORDS

MENTIONS_0 = TP("mentions", 0)
MENTIONS_1 = TP("mentions", 1)


class Record:
    def __init__(self, offset: int) -> None:
        self.offset = offset


def test_a_stamp_is_stale_only_for_the_partitions_its_fetcher_sought_since() -> None:
    ledger = faust_fixes.SeekLedger()
    fetcher, other = object(), object()
    stamp = ledger.stamp(fetcher, [MENTIONS_0, MENTIONS_1])
    assert not ledger.stale(stamp, MENTIONS_0)
    ledger.sought(other, MENTIONS_0)  # another consumer's seek is not this one's
    assert not ledger.stale(stamp, MENTIONS_0)
    ledger.sought(fetcher, MENTIONS_0)
    assert ledger.stale(stamp, MENTIONS_0)
    assert not ledger.stale(stamp, MENTIONS_1)
    assert not ledger.stale(ledger.stamp(fetcher, [MENTIONS_0]), MENTIONS_0)
    # Unstamped results (empty fetches, or a path that does not stamp) pass.
    assert not ledger.stale(None, MENTIONS_0)


async def test_getmany_drops_what_was_fetched_before_a_seek_that_lands_mid_batch() -> None:
    ledger = faust_fixes.SeekLedger()
    fetcher = object()

    async def getmany(consumer: Any, timeout: float) -> AsyncIterator[tuple[TP, Record]]:
        # As Faust's: _wait_next_records (which leaves the stamp) before the first record.
        consumer._flashpoint_stamp = ledger.stamp(fetcher, [MENTIONS_0, MENTIONS_1])
        yield MENTIONS_0, Record(100)
        ledger.sought(fetcher, MENTIONS_0)  # recovery seeks while the batch is being delivered
        yield MENTIONS_0, Record(101)
        yield MENTIONS_1, Record(200)

    consumer = SimpleNamespace()
    exported = STALE_RECORDS._value.get()
    got = [m.offset async for _, m in faust_fixes.fresh_only(getmany, ledger, faust_fixes.Handover())(consumer, 1.0)]
    assert got == [100, 200]
    assert ledger.dropped == 1
    assert STALE_RECORDS._value.get() == exported + 1  # SREs see it: flashpoint_stale_records_dropped_total
    # The next fetch, made after the seek, is delivered whole.
    again = [m.offset async for _, m in faust_fixes.fresh_only(getmany, ledger, faust_fixes.Handover())(consumer, 1.0)]
    assert again == [100, 200]


async def test_the_worker_consumer_stamps_fetches_and_counts_seeks() -> None:
    faust_fixes.apply()
    assert Consumer.getmany.__module__ == "pipeline.faust_fixes"
    assert AIOKafkaDriverConsumer.position.__module__ == "pipeline.faust_fixes"

    class FakeFetcher:
        """What aiokafka's Fetcher.seek_to and Faust's _fetch_records touch."""

        _closed = False
        _wait_consume_future = None

        def __init__(self) -> None:
            self._records: dict[TP, Any] = {MENTIONS_0: "buffered"}

        _subscriptions = SimpleNamespace(fetch_context=contextlib.nullcontext, seek=lambda tp, offset: None)

        def _notify(self, future: Any) -> None:
            pass

        async def fetched_records(self, partitions: Any, timeout: Any, max_records: Any) -> dict[TP, list[str]]:
            return {tp: ["record"] for tp in partitions}

    fetcher = FakeFetcher()
    thread = SimpleNamespace(consumer=SimpleNamespace(flow_active=True))
    consumer = SimpleNamespace(_closed=False, _fetcher=fetcher)
    records = await AIOKafkaConsumerThread._fetch_records(thread, consumer, {MENTIONS_0}, 0.1, 10)  # type: ignore[arg-type]
    assert records == {MENTIONS_0: ["record"]}
    assert not faust_fixes.LEDGER.stale(records.stamp, MENTIONS_0)
    Fetcher.seek_to(fetcher, MENTIONS_0, 7)  # type: ignore[arg-type]
    assert faust_fixes.LEDGER.stale(records.stamp, MENTIONS_0)
    assert fetcher._records == {}, "aiokafka's own seek still ran"


def test_the_position_recovery_sees_waits_for_the_records_in_hand() -> None:
    handover = faust_fixes.Handover()
    handover.batch({MENTIONS_0: [Record(10), Record(11), Record(12)], MENTIONS_1: []})
    # aiokafka has returned the batch: its position is past it.
    assert handover.position(MENTIONS_0, 13) == 10
    assert handover.position(MENTIONS_1, 5) == 5
    handover.handed(MENTIONS_0, 10)
    assert handover.position(MENTIONS_0, 13) == 11
    handover.handed(MENTIONS_0, 12)
    assert handover.position(MENTIONS_0, 13) == 13
    assert handover.position(MENTIONS_0, None) is None


async def test_getmany_notes_each_record_once_the_loop_is_done_with_it() -> None:
    ledger, handover, fetcher = faust_fixes.SeekLedger(), faust_fixes.Handover(), object()
    batch = {MENTIONS_0: [Record(10), Record(11)]}

    async def getmany(consumer: Any, timeout: float) -> AsyncIterator[tuple[TP, Record]]:
        consumer._flashpoint_stamp = ledger.stamp(fetcher, batch)
        handover.batch(batch)
        for record in batch[MENTIONS_0]:
            yield MENTIONS_0, record

    seen = []
    async for tp, record in faust_fixes.fresh_only(getmany, ledger, handover)(SimpleNamespace(), 1.0):
        # While the loop holds a record, recovery must not count it as read.
        seen.append((record.offset, handover.position(tp, 12)))
    assert seen == [(10, 10), (11, 11)]
    assert handover.position(MENTIONS_0, 12) == 12


def test_the_installed_libraries_are_the_ones_the_fixes_were_written_for() -> None:
    assert faust_fixes.check() == []


def test_another_release_or_a_missing_attribute_is_refused(monkeypatch: Any) -> None:
    import pytest

    newer = {**faust_fixes.PATCHED_FOR, "aiokafka": "0.15.0"}
    (problem,) = faust_fixes.check(newer)
    assert problem == "aiokafka is 0.15.0, but pipeline/faust_fixes.py was written and tested for 0.14.0"
    assert (
        "mode-streaming is not installed" in faust_fixes.check({"faust-streaming": "0.15.3", "aiokafka": "0.14.0"})[0]
    )
    # A release that renamed a method a fix replaces.
    monkeypatch.delattr(AIOKafkaConsumerThread, "_highwaters")
    (gone,) = faust_fixes.check(faust_fixes.PATCHED_FOR)
    assert gone.startswith("faust AIOKafkaConsumerThread._highwaters is gone")
    monkeypatch.setattr(faust_fixes, "_applied", False)
    with pytest.raises(faust_fixes.UnpatchedLibraries, match="will not start unpatched: faust AIOKafkaConsumerThread"):
        faust_fixes.apply()


def test_the_worker_command_refuses_to_start_unpatched(monkeypatch: Any, capsys: Any) -> None:
    from pipeline import cli

    monkeypatch.setattr(faust_fixes, "check", lambda: ["faust-streaming is 0.16.0, but ..."])
    assert cli.main(["worker"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("flashpoint: the worker will not start: faust-streaming is 0.16.0") and err.count("\n") == 1


class StableOffsets:
    """An aiokafka consumer under read_committed that has not fetched yet: it knows no
    last stable offset, and asks the broker for the ends (``ends``, one per call)."""

    def __init__(self, *ends: int) -> None:
        self.ends = list(ends)

    def last_stable_offset(self, tp: TP) -> int | None:
        return None

    async def end_offsets(self, partitions: list[TP]) -> dict[TP, int]:
        end = self.ends.pop(0) if len(self.ends) > 1 else self.ends[0]
        return {tp: end for tp in partitions}


def recovering(consumer: StableOffsets) -> Any:
    return SimpleNamespace(_ensure_consumer=lambda: consumer, consumer=SimpleNamespace(in_transaction=True))


async def test_fix_1_recovery_reads_each_changelog_to_its_stable_end(monkeypatch: Any) -> None:
    faust_fixes.apply()
    changelog = TP("app-cascades-changelog", 0)

    async def log_ends(consumer: Any, partitions: list[TP]) -> dict[TP, int]:
        return {tp: 42 for tp in partitions}

    monkeypatch.setattr(faust_fixes, "_log_ends", log_ends)
    # The bug, still in faust-streaming: None where the end is unknown, which recovery
    # reads as an empty changelog, so a restarted worker starts with empty tables.
    unpatched = faust_fixes.ORIGINALS["faust AIOKafkaConsumerThread._highwaters"]
    assert await unpatched(recovering(StableOffsets(42)), [changelog]) == {changelog: None}
    # The fix asks the broker.
    assert await AIOKafkaConsumerThread._highwaters(recovering(StableOffsets(42)), [changelog]) == {changelog: 42}  # type: ignore[arg-type]


async def test_fix_1_recovery_waits_for_a_killed_workers_transaction_to_complete(monkeypatch: Any) -> None:
    faust_fixes.apply()
    changelog = TP("app-cascades-changelog", 0)

    async def log_ends(consumer: Any, partitions: list[TP]) -> dict[TP, int]:
        return {tp: 42 for tp in partitions}  # written, the last commit's markers included

    monkeypatch.setattr(faust_fixes, "_log_ends", log_ends)
    # Stable up to 30 while the broker completes the commit, then 42: stopping at 30
    # would skip records whose source offsets are committed.
    consumer = StableOffsets(30, 42)
    assert await AIOKafkaConsumerThread._highwaters(recovering(consumer), [changelog]) == {changelog: 42}  # type: ignore[arg-type]


class FaustConsumer:
    """What Faust's ``Consumer.getmany`` and ``_wait_next_records`` touch, around one
    fetch from aiokafka (stamped as the patched ``_fetch_records`` stamps it), with the
    library's methods (patched or not) bound to it."""

    flow_active = True
    should_stop = False
    _buffered_partitions: frozenset[TP] = frozenset()

    def __init__(self, fetcher: Any, batch: dict[TP, list[Record]], *, patched: bool) -> None:
        self.fetcher, self.batch = fetcher, batch
        self.app = SimpleNamespace(
            consumer_generation_id=1, client_only=False, monitor=SimpleNamespace(track_tp_end_offset=lambda *_: None)
        )
        self.scheduler = DefaultSchedulingStrategy()
        self.not_waiting_next_records = asyncio.Event()
        pick = (lambda name, patched_one: patched_one) if patched else (lambda name, _: faust_fixes.ORIGINALS[name])
        self.getmany = MethodType(pick("faust Consumer.getmany", Consumer.getmany), self)
        self._wait_next_records = MethodType(
            pick("faust Consumer._wait_next_records", Consumer._wait_next_records), self
        )
        self.seek_to = pick("aiokafka Fetcher.seek_to", Fetcher.seek_to)
        aiokafka_position = 1 + max(r.offset for rs in batch.values() for r in rs)  # past the fetch
        self._thread = SimpleNamespace(position=lambda tp: asyncio.sleep(0, aiokafka_position))
        self.position = MethodType(pick("faust aiokafka Consumer.position", AIOKafkaDriverConsumer.position), self)

    def _get_active_partitions(self) -> set[TP]:
        return set(self.batch)

    async def _getmany(self, active_partitions: set[TP], timeout: float) -> dict[TP, list[Record]]:
        fetched = faust_fixes.Fetched(self.batch)
        fetched.stamp = faust_fixes.LEDGER.stamp(self.fetcher, self.batch)
        return fetched

    def highwater(self, tp: TP) -> int:
        return 1000

    def _to_message(self, tp: TP, record: Record) -> Record:
        return record


class SeekableFetcher:
    """What aiokafka's ``Fetcher.seek_to`` touches."""

    def __init__(self) -> None:
        self._records: dict[TP, Any] = {}
        self._subscriptions = SimpleNamespace(seek=lambda tp, offset: None)

    def _notify(self, future: Any) -> None:
        pass

    _wait_consume_future = None


async def delivered_around_a_seek(*, patched: bool) -> list[int]:
    """Offsets the stream sees when recovery seeks mentions-0 back to its committed
    offset 50 while a batch fetched before the seek (100-102) is being delivered."""
    faust_fixes.apply()
    fetcher = SeekableFetcher()
    consumer = FaustConsumer(fetcher, {MENTIONS_0: [Record(100), Record(101), Record(102)]}, patched=patched)
    delivered = []
    async for _, record in consumer.getmany(1.0):
        delivered.append(record.offset)
        if record.offset == 100:
            consumer.seek_to(fetcher, MENTIONS_0, 50)
    return delivered


async def test_fix_2_records_fetched_before_a_seek_are_not_delivered_after_it() -> None:
    # The bug, still in faust-streaming: 101 and 102 come after the seek to 50; Faust
    # books 50-100 as read, so whatever of them was not processed yet is skipped.
    assert await delivered_around_a_seek(patched=False) == [100, 101, 102]
    # The fix drops them; aiokafka fetches from 50 again.
    assert await delivered_around_a_seek(patched=True) == [100]


async def position_while_the_loop_holds_a_batch(*, patched: bool) -> list[int | None]:
    """What table recovery reads as the changelog's position before the fetch loop has
    handed on a batch of 10-12, after it has handed on 10, and after all of it."""
    faust_fixes.apply()
    changelog = TP("app-cascades-changelog", 0)
    consumer = FaustConsumer(SeekableFetcher(), {changelog: [Record(10), Record(11), Record(12)]}, patched=patched)
    seen = []
    records = consumer.getmany(1.0)
    await anext(records)  # 10 is with the loop
    seen.append(await consumer.position(changelog))
    await anext(records)  # 10 handed on, 11 with the loop
    seen.append(await consumer.position(changelog))
    async for _ in records:
        pass
    seen.append(await consumer.position(changelog))
    return seen


async def test_fix_3_recovery_sees_a_position_only_up_to_the_records_handed_on() -> None:
    # The bug, still in faust-streaming: aiokafka's position is past the batch as soon
    # as the fetch returns, so recovery marks the changelog done and drops 10-12.
    assert await position_while_the_loop_holds_a_batch(patched=False) == [13, 13, 13]
    assert await position_while_the_loop_holds_a_batch(patched=True) == [10, 11, 13]


def test_the_worker_consumer_fetches_with_the_bound_it_is_given(tmp_path: Any) -> None:
    from pipeline.app import make_app
    from pipeline.settings import Settings

    faust_fixes.apply()
    s = Settings(data_dir=tmp_path, fetch_max_wait_seconds=0.01, fetch_min_bytes=4096)
    bounded, plain = make_app(s), make_app(s.replace(app_id="flashpoint-other"))
    faust_fixes.bound_fetches(bounded, s.fetch_max_wait_seconds, s.fetch_min_bytes)

    async def fetch_limits(app: Any, create: Any) -> tuple[int, int]:
        thread = app.consumer._thread
        consumer = create(thread, app.transport)
        return consumer._fetch_max_wait_ms, consumer._fetch_min_bytes

    patched = AIOKafkaConsumerThread._create_worker_consumer
    original = faust_fixes.ORIGINALS["faust AIOKafkaConsumerThread._create_worker_consumer"]
    assert asyncio.run(fetch_limits(bounded, patched)) == (10, 4096)
    # An app without a bound keeps Faust's fetches, as does Faust's own method.
    assert asyncio.run(fetch_limits(plain, patched)) == (1500, 1)
    assert asyncio.run(fetch_limits(bounded, original)) == (1500, 1)


def _committed_seek(ledger: Any, fetcher: object, sought: asyncio.Event, offset: int) -> Any:
    """A consumer's seek_to_committed as aiokafka runs it at the end of a recovery:
    mentions[0] is sought to its committed ``offset`` first, then the other partitions'
    committed offsets are awaited."""

    async def seek_to_committed() -> dict[TP, int]:
        ledger.sought(fetcher, MENTIONS_0)
        sought.set()
        await asyncio.sleep(0.05)  # the other partitions' committed offsets
        return {MENTIONS_0: offset}

    return seek_to_committed


async def _seek_while_records_arrive(perform_seek: Any, resume_flow: Any = lambda consumer: None) -> list[int]:
    """Faust's fetch loop and its perform_seek at the end of a recovery, interleaved as
    the fault suite saw them: offsets up to 1063 of a partition were handed to the loop
    before the recovery (flow suspended, so never processed); the seek back to the
    committed 1014 lands in aiokafka first, and aiokafka's fetch from there reaches the
    loop while perform_seek still awaits the other partitions' committed offsets. The
    offsets the loop delivers are returned."""
    ledger = faust_fixes.SeekLedger()
    fetcher = object()
    sought, seek_done = asyncio.Event(), asyncio.Event()

    seek_to_committed = _committed_seek(ledger, fetcher, sought, 1014)
    consumer = SimpleNamespace(
        _read_offset={MENTIONS_0: 1063}, _committed_offset={}, seek_to_committed=seek_to_committed
    )

    async def getmany(self: Any, timeout: float) -> AsyncIterator[tuple[TP, Record]]:
        await sought.wait()
        self._flashpoint_stamp = ledger.stamp(fetcher, [MENTIONS_0])  # fetched after the seek
        for offset in (1014, 1015, 1016):
            yield MENTIONS_0, Record(offset)
        await seek_done.wait()  # the next fetch
        self._flashpoint_stamp = ledger.stamp(fetcher, [MENTIONS_0])
        for offset in (1064, 1065):
            yield MENTIONS_0, Record(offset)

    delivered = []

    async def seek() -> None:
        await perform_seek(consumer)
        resume_flow(consumer)  # as recovery does next
        seek_done.set()

    async def fetch_loop() -> None:
        # Faust's Consumer._drain_messages, its read-offset rule only.
        async for tp, message in faust_fixes.fresh_only(getmany, ledger, faust_fixes.Handover())(consumer, 1.0):
            read = consumer._read_offset.get(tp)
            if read is None or message.offset >= read:
                delivered.append(message.offset)
                consumer._read_offset[tp] = message.offset
            await asyncio.sleep(0)

    await asyncio.wait_for(asyncio.gather(seek(), fetch_loop()), 5)
    return delivered


async def test_fix_4_nothing_reaches_the_fetch_loop_while_it_seeks() -> None:
    faust_fixes.apply()
    assert Consumer.perform_seek.__module__ == "pipeline.faust_fixes"
    original = faust_fixes.ORIGINALS["faust Consumer.perform_seek"]
    # Unpatched: the records fetched from the committed offset meet the read offset of
    # what went before the seek and are dropped as already read; Faust then books
    # 1015-1063 as a gap and commits past them.
    assert await _seek_while_records_arrive(original) == [1064, 1065]
    # Patched: the loop waits for the seek, then delivers from the committed offset.
    held = faust_fixes.hold_during_seeks(original)
    resume = faust_fixes.release_on_resume(lambda consumer: None)
    assert await _seek_while_records_arrive(held, resume) == [1014, 1015, 1016, 1064, 1065]


async def _end_recovery_while_records_arrive(perform_seek: Any, resume_flow: Any) -> list[int]:
    """Faust's own ``Recovery._resume_streams`` ending a recovery, as the fault suite saw
    it (2026-12-07): the flow control was resumed when recovery began; the seek of
    mentions[0] to its committed 771 lands first, and aiokafka's fetch from there comes
    back while perform_seek awaits the other partitions. Returns the offsets the ingest
    stream's queue holds once the worker is ready."""
    from faust.tables.recovery import Recovery
    from mode.utils.queues import FlowControlEvent, FlowControlQueue

    ledger = faust_fixes.SeekLedger()
    fetcher = object()
    flow_control = FlowControlEvent()
    flow_control.resume()  # "Resuming flow...": recovery reads the changelogs
    stream = FlowControlQueue(flow_control=flow_control, clear_on_resume=True)
    sought, ready = asyncio.Event(), asyncio.Event()

    seek_to_committed = _committed_seek(ledger, fetcher, sought, 771)
    consumer = SimpleNamespace(
        _read_offset={},
        _committed_offset={},
        seek_to_committed=seek_to_committed,
        assignment=lambda: {MENTIONS_0},
        resume_partitions=lambda tps: None,
        flow_active=True,
        can_resume_flow=asyncio.Event(),
        suspend_flow=asyncio.Event(),
    )
    consumer.perform_seek = MethodType(perform_seek, consumer)
    consumer.resume_flow = MethodType(resume_flow, consumer)

    async def maybe_start() -> None:
        ready.set()

    app = SimpleNamespace(
        consumer=consumer,
        consumer_generation_id=0,
        flow_control=flow_control,
        on_rebalance_complete=SimpleNamespace(send=lambda: asyncio.sleep(0)),
        _fetcher=SimpleNamespace(maybe_start=maybe_start),
        on_rebalance_end=lambda: None,
        conf=SimpleNamespace(broker_request_timeout=5.0),
    )

    async def wait(coro: Any, timeout: Any = None) -> None:
        # Recovery._wait's mode Service.wait_first: the seek runs as a task, awaited
        # with asyncio.wait, so the fetch loop can run between the seek's end and the rest.
        task = asyncio.ensure_future(coro)
        await asyncio.wait({task}, timeout=timeout)
        task.result()

    recovery = SimpleNamespace(
        app=app,
        log=SimpleNamespace(dev=lambda *a: None, info=lambda *a: None),
        _is_changelog_tp=lambda tp: False,
        _wait=wait,
        completed=asyncio.Event(),
        tables=SimpleNamespace(on_actives_ready=lambda: None, on_standbys_ready=lambda: None),
    )

    async def getmany(self: Any, timeout: float) -> AsyncIterator[tuple[TP, Record]]:
        await sought.wait()
        self._flashpoint_stamp = ledger.stamp(fetcher, [MENTIONS_0])  # fetched after the seek
        yield MENTIONS_0, Record(771)
        await asyncio.sleep(0.1)  # the next fetch
        self._flashpoint_stamp = ledger.stamp(fetcher, [MENTIONS_0])
        yield MENTIONS_0, Record(772)

    async def fetch_loop() -> None:
        # Faust's Consumer._drain_messages and its topic conductor's on_message, as far
        # as they go here: the read-offset rule, then into the stream's queue once the
        # flow control lets it.
        async for tp, message in faust_fixes.fresh_only(getmany, ledger, faust_fixes.Handover())(consumer, 1.0):
            read = consumer._read_offset.get(tp)
            if read is None or message.offset >= read:
                await flow_control.acquire()
                stream.put_nowait(message.offset)
                consumer._read_offset[tp] = message.offset

    await asyncio.wait_for(asyncio.gather(Recovery._resume_streams(recovery), fetch_loop()), 5)  # type: ignore[arg-type]
    assert ready.is_set()
    return [stream.get_nowait() for _ in range(stream.qsize())]


async def test_fix_9_the_first_record_after_a_recovery_seek_is_not_emptied_out_of_its_stream() -> None:
    faust_fixes.apply()
    assert Consumer.resume_flow.__module__ == "pipeline.faust_fixes"
    seek = faust_fixes.ORIGINALS["faust Consumer.perform_seek"]
    flow = faust_fixes.ORIGINALS["faust Consumer.resume_flow"]
    held = faust_fixes.hold_during_seeks(seek)
    # Fix 4 alone (Faust's resume_flow: the loop is held while perform_seek runs): 771
    # reaches the stream's queue between the seek and the flow control's resume, which
    # empties it; its read offset is taken, so only 772 is processed, and Faust's
    # commit then passes 771.
    assert await _end_recovery_while_records_arrive(held, flow) == [772]
    # Neither fix: the same.
    assert await _end_recovery_while_records_arrive(seek, flow) == [772]
    # Held until the flow resumes: both are processed.
    assert await _end_recovery_while_records_arrive(held, faust_fixes.release_on_resume(flow)) == [771, 772]


async def test_fix_5_standby_recovery_never_seeks_to_an_invalid_offset() -> None:
    from collections import Counter

    from faust.tables.recovery import Recovery

    faust_fixes.apply()
    sought: list[dict[TP, Any]] = []

    class FakeConsumer:
        async def seek_wait(self, offsets: dict[TP, Any]) -> None:
            sought.append(dict(offsets))

    offsets: Counter[TP] = Counter({MENTIONS_0: None, MENTIONS_1: 7})  # type: ignore[dict-item]
    original = faust_fixes.ORIGINALS["faust Recovery._seek_offsets"]
    await original(SimpleNamespace(), FakeConsumer(), {MENTIONS_0, MENTIONS_1}, offsets, "standby")
    # Unpatched, the missing offset reaches aiokafka's seek, which raises "Offset must
    # be a positive integer" and crashes recovery.
    assert sought[-1] == {MENTIONS_0: None, MENTIONS_1: 7}
    await Recovery._seek_offsets(SimpleNamespace(), FakeConsumer(), {MENTIONS_0, MENTIONS_1}, offsets, "standby")  # type: ignore[arg-type]
    assert sought[-1] == {MENTIONS_0: 0, MENTIONS_1: 7}


async def test_fix_8_a_rebalance_stops_the_producers_of_partitions_now_elsewhere() -> None:
    from faust.transport.consumer import TransactionManager

    faust_fixes.apply()
    stopped: list[str] = []

    class FakeProducer:
        def __init__(self) -> None:
            # Producers begun while this worker held all three partitions.
            self._transaction_producers: dict[str, object] = {f"app-1-{p}": object() for p in range(3)}

        async def stop_transaction(self, tid: str) -> None:
            stopped.append(tid)
            self._transaction_producers.pop(tid, None)

        async def maybe_begin_transaction(self, tid: str) -> None:
            self._transaction_producers.setdefault(tid, object())

    class Assignor:
        # Faust's assignor marks a copartitioned group's source partitions as standbys
        # too: the ones this worker lost to the worker that joined.
        def is_standby(self, tp: TP) -> bool:
            return tp in (MENTIONS_0, MENTIONS_1)

        def group_for_topic(self, topic: str) -> int:
            return 1

    def manager() -> Any:
        tm = SimpleNamespace(
            transactional_id_format=TransactionManager.transactional_id_format,
            app=SimpleNamespace(assignor=Assignor(), conf=SimpleNamespace(id="app")),
            producer=FakeProducer(),
            log=SimpleNamespace(info=lambda *args, **kwargs: None),
        )
        for name in ("_tps_to_transactional_ids", "_tps_to_active_tpgs", "_stop_transactions", "_start_transactions"):
            setattr(tm, name, MethodType(getattr(TransactionManager, name), tm))
        return tm

    kept, moved = {TP("mentions", 2)}, {MENTIONS_0, MENTIONS_1}
    original = faust_fixes.ORIGINALS["faust TransactionManager.on_rebalance"]
    unpatched = manager()
    await original(unpatched, kept, moved, set())
    # Unpatched, the moved partitions' producers stay: fenced by their new owner and
    # reused, still "in a transaction", when the partitions come back.
    assert stopped == [] and sorted(unpatched.producer._transaction_producers) == ["app-1-0", "app-1-1", "app-1-2"]
    patched = manager()
    await TransactionManager.on_rebalance(patched, kept, moved, set())  # type: ignore[arg-type]
    assert stopped == ["app-1-0", "app-1-1"] and list(patched.producer._transaction_producers) == ["app-1-2"]


def test_each_fix_the_revert_script_names_is_still_installed_by_that_line() -> None:
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    script = (root / "benchmarks" / "revert_fix.sh").read_text()
    lines = set((root / "pipeline" / "faust_fixes.py").read_text().splitlines())
    patterns = dict(re.findall(r"^  (\d)\) pattern='(.*)' ;;$", script, flags=re.M))
    assert sorted(patterns) == ["1", "2", "3", "4", "5", "8", "9"]
    assert {n: p for n, p in patterns.items() if p not in lines} == {}
