"""The fault suite's worker with its race windows widened (issue 28, point 3).

Each fix of pipeline/faust_fixes.py closes a race that a real worker meets only when
a fetch, a seek or a wait happens to land in a window of a few milliseconds: the
SIGKILL scenario at CI sizes hit some of them in one run of seven, some never. This
module runs the real worker (``python -m tests.broker.amplify worker``, the same
arguments as ``python -m pipeline``) after stretching those windows with sleeps at the
points where each race happens. A sleep is a timing a slow machine could produce, so
with every fix in place the scenarios must still pass; with a fix taken out
(benchmarks/revert_fix.sh) its race now happens at most restarts instead of a few.

The stretches, each installed around the patched library methods, outermost:

- fix 9: the seek that ends a recovery returns only once the fetch loop has put a
  record into a stream queue (or after ``SEEK_TAIL_SECONDS``), and an agent that takes
  a record meanwhile is slow to come back for the next (``SLOW_TAKE_SECONDS``).
  Recovery then resumes flow control, which empties the stream queues. Unpatched, the
  fetch loop is free after the seek, and what it delivered is emptied out with its
  offset taken; patched, it is held until the flow resumes and the seek waits in vain.
- fix 1: after an assignment, the consumer looks up where to start fetching slowly
  (``SLOW_POSITIONS_SECONDS``), so that recovery measures the changelogs before any
  fetch of them has come back. Unpatched, it then reads their ends as unknown, that
  is empty, and starts the tables empty.
- fix 3: the first fetch of changelog records in each recovery is held in the fetch
  loop, before it is handed to recovery, for longer than recovery's 5 s wait
  (``CHANGELOG_HOLD_SECONDS``). Unpatched, recovery reads aiokafka's position, already
  past those records, and marks their partition done without them.
- fix 4: the seek looks up each partition's committed offset slowly
  (``SLOW_COMMITTED_SECONDS`` each), so that fetches from the partitions sought first
  come back before it is done. Unpatched, the fetch loop takes them meanwhile.
- fix 2: a seek's first moments (``PRE_SEEK_SECONDS``, with the fetch loop held by fix
  4) leave aiokafka time to fetch from where the partitions stood before it, so that
  a batch fetched before the seek is waiting when the loop is released. Fix 2 then
  drops such batches at most restarts, but they start at the offset sought, so
  without it nothing is skipped either: no run has caught fix 2 taken out
  (docs/decisions/2026-12-07-race-amplifiers.md says what it would take).

The rebalance scenario needs no stretch for fix 8: it waits until the survivor has
committed on every partition before the killed worker returns, which is enough.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from typing import Any

from pipeline import faust_fixes

log = logging.getLogger("flashpoint.amplify")

SEEK_TAIL_SECONDS = 3.0
SLOW_TAKE_SECONDS = 0.6
CHANGELOG_HOLD_SECONDS = 6.0
PRE_SEEK_SECONDS = 0.5
SLOW_COMMITTED_SECONDS = 0.05
SLOW_POSITIONS_SECONDS = 1.5


def install() -> None:
    from aiokafka import AIOKafkaConsumer
    from aiokafka.consumer.fetcher import Fetcher
    from faust.transport.consumer import Consumer
    from mode.utils.queues import ThrowableQueue

    # Innermost: inside fix 4's hold, so the loop delivers nothing while it sleeps.
    original_seek = Consumer.perform_seek

    async def _seek_late(self: Any) -> None:
        log.info("amplify: seeking in %.1f s", PRE_SEEK_SECONDS)
        await asyncio.sleep(PRE_SEEK_SECONDS)
        await original_seek(self)

    Consumer.perform_seek = _seek_late  # type: ignore[method-assign]

    seek_to_committed = AIOKafkaConsumer.seek_to_committed
    committed = AIOKafkaConsumer.committed

    async def _seek_to_committed(self: Any, *partitions: Any) -> Any:
        self._amplify_seeking = True
        try:
            return await seek_to_committed(self, *partitions)
        finally:
            self._amplify_seeking = False

    async def _committed(self: Any, tp: Any) -> Any:
        if getattr(self, "_amplify_seeking", False):
            await asyncio.sleep(SLOW_COMMITTED_SECONDS)
        return await committed(self, tp)

    update_positions = Fetcher._update_fetch_positions

    async def _update_fetch_positions(self: Any, assignment: Any, node_id: Any, tps: Any) -> Any:
        await asyncio.sleep(SLOW_POSITIONS_SECONDS)
        return await update_positions(self, assignment, node_id, tps)

    Fetcher._update_fetch_positions = _update_fetch_positions  # type: ignore[method-assign]
    AIOKafkaConsumer.seek_to_committed = _seek_to_committed  # type: ignore[method-assign]
    AIOKafkaConsumer.committed = _committed  # type: ignore[method-assign]
    faust_fixes.apply()  # then the fixes, and the other stretches around them

    window = asyncio.Event()
    delivered = asyncio.Event()
    perform_seek = Consumer.perform_seek

    async def _perform_seek(self: Any) -> None:
        await perform_seek(self)
        delivered.clear()
        window.set()
        try:
            await asyncio.wait_for(delivered.wait(), SEEK_TAIL_SECONDS)
            log.info("amplify: a record reached a stream queue right after the seek")
            # The agent that took it is away (slow take): let the loop queue a few more.
            await asyncio.sleep(SLOW_TAKE_SECONDS / 4)
        except TimeoutError:
            log.info("amplify: no record reached a stream queue in the %.1f s after the seek", SEEK_TAIL_SECONDS)
        finally:
            # Recovery resumes flow control right after this returns: the window ends there.
            window.clear()

    put = ThrowableQueue.put_nowait_enhanced

    def _put(self: Any, *args: Any, **kwargs: Any) -> Any:
        done = put(self, *args, **kwargs)
        if window.is_set():
            delivered.set()
        return done

    get = ThrowableQueue.get

    async def _get(self: Any) -> Any:
        item = await get(self)
        if window.is_set():
            log.info("amplify: an agent took a record in the window: back in %.1f s", SLOW_TAKE_SECONDS)
            await asyncio.sleep(SLOW_TAKE_SECONDS)
        return item

    clear = ThrowableQueue.clear

    def _clear(self: Any) -> None:
        if self.qsize():
            log.info("amplify: flow control empties %d records from a stream queue", self.qsize())
        clear(self)

    wait_next_records = Consumer._wait_next_records
    held_for: dict[int, int] = {}

    async def _wait_next_records(self: Any, timeout: float) -> Any:
        records, active = await wait_next_records(self, timeout)
        if records and self.app.in_recovery and any(self._is_changelog_tp(tp) for tp in records):
            # Once per recovery: its generation tells one recovery from the next.
            recovery = self.app.tables.recovery
            generation = self.app.consumer_generation_id
            if held_for.get(id(recovery)) != generation:
                held_for[id(recovery)] = generation
                log.info("amplify: holding a changelog fetch for %.1f s", CHANGELOG_HOLD_SECONDS)
                await asyncio.sleep(CHANGELOG_HOLD_SECONDS)
        return records, active

    Consumer.perform_seek = _perform_seek  # type: ignore[method-assign]
    ThrowableQueue.put_nowait_enhanced = _put  # type: ignore[method-assign]
    ThrowableQueue.get = _get  # type: ignore[method-assign]
    ThrowableQueue.clear = _clear  # type: ignore[method-assign]
    Consumer._wait_next_records = _wait_next_records  # type: ignore[method-assign]


def main() -> int:
    install()
    from pipeline.cli import main as cli

    return cli()


if __name__ == "__main__":
    sys.exit(main())
