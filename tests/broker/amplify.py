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

- fix 9: after the seek that ends a recovery, before flow control resumes and empties
  the stream queues (``SEEK_TAIL_SECONDS``). Unpatched, the fetch loop is free then,
  and whatever it delivers into a stream queue is emptied out with its offset taken.
- fix 3: the first fetch of changelog records in each recovery is held in the fetch
  loop, before it is handed to recovery, for longer than recovery's 5 s wait
  (``CHANGELOG_HOLD_SECONDS``). Unpatched, recovery reads aiokafka's position, already
  past those records, and marks their partition done without them.
- fixes 2 and 4: a fetch of stream records is held in the fetch loop for a moment
  (``STREAM_HOLD_SECONDS``), so that a rebalance's or recovery's seek is likely to land
  while a batch fetched before it is still undelivered.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from typing import Any

from pipeline import faust_fixes

log = logging.getLogger("flashpoint.amplify")

SEEK_TAIL_SECONDS = 0.5
CHANGELOG_HOLD_SECONDS = 6.0
STREAM_HOLD_SECONDS = 0.05


def install() -> None:
    from faust.transport.consumer import Consumer

    faust_fixes.apply()  # first, so the stretches wrap the patched methods

    perform_seek = Consumer.perform_seek

    async def _perform_seek(self: Any) -> None:
        await perform_seek(self)
        log.info("amplify: %.1f s after the seek", SEEK_TAIL_SECONDS)
        await asyncio.sleep(SEEK_TAIL_SECONDS)

    wait_next_records = Consumer._wait_next_records
    held_for: dict[int, int] = {}

    async def _wait_next_records(self: Any, timeout: float) -> Any:
        records, active = await wait_next_records(self, timeout)
        if not records:
            return records, active
        changelogs = [tp for tp in records if self._is_changelog_tp(tp)]
        recovery = self.app.tables.recovery
        if changelogs and self.app.in_recovery:
            # Once per recovery: its generation tells one recovery from the next.
            generation = self.app.consumer_generation_id
            if held_for.get(id(recovery)) != generation:
                held_for[id(recovery)] = generation
                log.info("amplify: holding changelog fetch %s for %.1f s", changelogs, CHANGELOG_HOLD_SECONDS)
                await asyncio.sleep(CHANGELOG_HOLD_SECONDS)
        elif not changelogs:
            await asyncio.sleep(STREAM_HOLD_SECONDS)
        return records, active

    Consumer.perform_seek = _perform_seek  # type: ignore[method-assign]
    Consumer._wait_next_records = _wait_next_records  # type: ignore[method-assign]


def main() -> int:
    install()
    from pipeline.cli import main as cli

    return cli()


if __name__ == "__main__":
    sys.exit(main())
