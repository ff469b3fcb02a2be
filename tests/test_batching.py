"""pipeline.batching: continuous batching, delivery beside the next step, acks in order."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from typing import Any

import pytest

from pipeline.batching import ContinuousBatcher


class Feed:
    """An async stream of items that the test puts, and ends."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[int | None] = asyncio.Queue()

    def put(self, *items: int) -> None:
        for item in items:
            self._queue.put_nowait(item)

    def end(self) -> None:
        self._queue.put_nowait(None)

    async def __aiter__(self) -> AsyncIterator[int]:
        while (item := await self._queue.get()) is not None:
            yield item


class Recorder:
    """Steps that block until released; deliveries that resolve when the test says."""

    def __init__(self, hold_steps: bool = False) -> None:
        self.steps: list[list[int]] = []
        self.acked: list[list[int]] = []
        self.deliveries: list[asyncio.Future[None]] = []
        self.release = asyncio.Event()
        if not hold_steps:
            self.release.set()
        self.auto_deliver = True

    async def step(self, items: list[int]) -> Awaitable[Any]:
        self.steps.append(items)
        await self.release.wait()
        delivery: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.auto_deliver:
            delivery.set_result(None)
        self.deliveries.append(delivery)
        return delivery

    async def ack(self, items: list[int]) -> None:
        self.acked.append(items)


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


async def test_every_item_is_stepped_and_acked_once_in_order() -> None:
    feed, rec = Feed(), Recorder()
    feed.put(*range(10))
    feed.end()
    await ContinuousBatcher(rec.step, rec.ack, max_items=3, window=0.0).consume(feed)
    assert [i for s in rec.steps for i in s] == list(range(10))
    assert all(len(s) <= 3 for s in rec.steps)
    assert rec.acked == rec.steps


async def test_what_arrives_during_a_step_is_the_next_step_at_once() -> None:
    feed, rec = Feed(), Recorder(hold_steps=True)
    run = asyncio.create_task(ContinuousBatcher(rec.step, rec.ack, max_items=3, window=10.0).consume(feed))
    feed.put(0, 1, 2)  # a full step: no window
    await settle()
    assert rec.steps == [[0, 1, 2]]
    feed.put(3, 4)
    await settle()
    rec.release.set()
    await settle()
    # The next step starts without waiting out the 10 s window.
    assert rec.steps == [[0, 1, 2], [3, 4]]
    feed.end()
    await asyncio.wait_for(run, 1)


async def test_an_idle_batcher_waits_the_window_for_more() -> None:
    feed, rec = Feed(), Recorder()
    batcher = ContinuousBatcher(rec.step, rec.ack, max_items=100, window=0.2)
    run = asyncio.create_task(batcher.consume(feed))
    feed.put(0)
    await asyncio.sleep(0.05)
    assert rec.steps == []
    feed.put(1)
    await asyncio.sleep(0.3)
    assert rec.steps == [[0, 1]]
    feed.end()
    await asyncio.wait_for(run, 1)


async def test_a_full_step_does_not_wait_for_the_window() -> None:
    feed, rec = Feed(), Recorder()
    run = asyncio.create_task(ContinuousBatcher(rec.step, rec.ack, max_items=2, window=10.0).consume(feed))
    feed.put(0, 1)
    await settle()
    assert rec.steps == [[0, 1]]
    feed.end()
    await asyncio.wait_for(run, 1)


async def test_the_next_step_runs_before_delivery_and_acks_keep_step_order() -> None:
    feed, rec = Feed(), Recorder()
    rec.auto_deliver = False
    run = asyncio.create_task(ContinuousBatcher(rec.step, rec.ack, max_items=1, window=0.0).consume(feed))
    feed.put(0, 1, 2)
    await settle()
    assert rec.steps == [[0], [1], [2]] and rec.acked == []
    rec.deliveries[2].set_result(None)
    rec.deliveries[1].set_result(None)
    await settle()
    assert rec.acked == []  # step 0 is not delivered yet
    rec.deliveries[0].set_result(None)
    await settle()
    assert rec.acked == [[0], [1], [2]]
    feed.end()
    await asyncio.wait_for(run, 1)


async def test_undelivered_steps_are_bounded() -> None:
    feed, rec = Feed(), Recorder()
    rec.auto_deliver = False
    run = asyncio.create_task(
        ContinuousBatcher(rec.step, rec.ack, max_items=1, window=0.0, max_undelivered=2).consume(feed)
    )
    feed.put(*range(10))
    await settle()
    # Two wait for delivery; the third step is done and waits for room.
    assert len(rec.steps) == 3
    for d in rec.deliveries:
        d.set_result(None)
    await settle()
    assert len(rec.steps) > 3
    for _ in range(10):
        for d in rec.deliveries:
            if not d.done():
                d.set_result(None)
        await settle()
    feed.end()
    for d in rec.deliveries:
        if not d.done():
            d.set_result(None)
    await asyncio.wait_for(run, 1)
    assert [i for s in rec.acked for i in s] == list(range(10))


async def test_a_failed_step_is_raised_as_itself() -> None:
    feed = Feed()

    async def step(items: list[int]) -> Awaitable[Any]:
        raise ValueError("model broke")

    async def ack(items: list[int]) -> None:
        raise AssertionError("nothing to ack")

    feed.put(0)
    with pytest.raises(ValueError, match="model broke"):
        await asyncio.wait_for(ContinuousBatcher(step, ack, max_items=5, window=0.0).consume(feed), 1)


async def test_a_failed_delivery_stops_an_idle_batcher_and_is_not_acked() -> None:
    feed, rec = Feed(), Recorder()
    rec.auto_deliver = False
    run = asyncio.create_task(ContinuousBatcher(rec.step, rec.ack, max_items=5, window=0.0).consume(feed))
    feed.put(0)
    await settle()
    # The feed stays open and empty: the failure must still end consume.
    rec.deliveries[0].set_exception(ConnectionError("broker gone"))
    with pytest.raises(ConnectionError, match="broker gone"):
        await asyncio.wait_for(run, 1)
    assert rec.acked == []


async def test_put_waits_while_a_full_step_waits() -> None:
    rec = Recorder(hold_steps=True)
    batcher = ContinuousBatcher(rec.step, rec.ack, max_items=2, window=0.0)
    feed = Feed()
    run = asyncio.create_task(batcher.consume(feed))
    feed.put(0)
    await settle()  # step [0] runs and holds
    await batcher.put(1)
    await batcher.put(2)
    third = asyncio.create_task(batcher.put(3))
    await settle()
    assert not third.done()
    rec.release.set()
    await settle()
    assert third.done()
    feed.end()
    await asyncio.wait_for(run, 1)
    assert rec.steps == [[0], [1, 2], [3]]


async def test_cancelling_consume_cancels_the_undelivered() -> None:
    feed, rec = Feed(), Recorder()
    rec.auto_deliver = False
    run = asyncio.create_task(ContinuousBatcher(rec.step, rec.ack, max_items=5, window=0.0).consume(feed))
    feed.put(0)
    await settle()
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    assert rec.acked == []


def test_sizes_must_be_positive() -> None:
    async def step(items: list[int]) -> Awaitable[Any]:
        raise AssertionError

    async def ack(items: list[int]) -> None:
        raise AssertionError

    with pytest.raises(ValueError):
        ContinuousBatcher(step, ack, max_items=0, window=0.0)
