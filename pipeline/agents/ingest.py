"""The ingest agent: mentions -> mentions.classified (or the dead-letter topic).

At least once: its records are sent outside any transaction, and delivered before the
events are acked. faust-streaming ties a transaction to the *destination* partition
number, so a re-keyed send could commit apart from (or long after) its source offset;
the track agent drops redelivered posts instead.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, cast

import faust
from faust.streams import Stream
from faust.types import StreamT

from pipeline import flow, metrics
from pipeline.agents import dead_lettered
from pipeline.batching import ContinuousBatcher
from pipeline.flow import Incoming
from pipeline.settings import Settings

# Mentions taken per classification batch: about a third of a brand stream is posts
# and replies, and a batch of 64 mentions gave the model 19 texts (at 1.9x the cost
# per text of a full batch of 64).
MENTIONS_PER_BATCH = 4


class Ingester(Protocol):
    """:func:`pipeline.flow.ingest` for a batch, off the event loop
    (:class:`pipeline.ingest_process.IngestProcess`)."""

    async def ingest(self, batch: list[Incoming]) -> flow.Encoded: ...


def agent(
    s: Settings, app: faust.App, ingester: Ingester, per_step: int
) -> Callable[[StreamT[bytes]], Awaitable[None]]:
    """``per_step``: mentions taken at a time, batched while the last step runs."""

    async def ingest(source: StreamT[bytes]) -> None:
        # StreamT's stubs lack noack, which the concrete Stream has. Events are acked by
        # the batcher once the records made from them are delivered.
        stream = cast(Stream[bytes], source).noack()

        async def step(events: list[Any]) -> Awaitable[Any]:
            began = time.monotonic()
            batch = [
                Incoming(e.value, e.key, e.message.topic, e.message.partition, e.message.offset, e.message.timestamp)
                for e in events
            ]
            result = await ingester.ingest(batch)
            for size, seconds in zip(result.batch_sizes, result.inference_seconds, strict=True):
                metrics.INFERENCE_BATCH_SIZE.observe(size)
                metrics.INFERENCE_SECONDS.observe(seconds)
            metrics.MODEL_ERRORS.inc(result.model_errors)
            producer = app.producer
            pending = []
            for msg, letter in result.dead:
                metrics.MENTIONS.labels("dead_letter").inc()
                dead_lettered("mentions", letter)
                pending.append(
                    await producer.send(s.topic_dead_letter, msg.key, msg.value or b"", None, None, letter.headers())
                )
            metrics.MENTIONS.labels("unmatched").inc(result.unmatched)
            metrics.MENTIONS.labels("matched").inc(result.forwarded - result.unmatched)
            # A record per partition of the classified topic (ClassifiedBatch).
            for partition, value in result.forward:
                pending.append(await producer.send(s.topic_classified, None, value, partition, None, None))
            metrics.CLASSIFIED.inc(result.classified)
            metrics.INGEST_STEP_SECONDS.observe(time.monotonic() - began)
            return asyncio.gather(*pending)

        async def ack(events: list[Any]) -> None:
            for event in events:
                await stream.ack(event)

        batcher = ContinuousBatcher[Any](step, ack, max_items=per_step, window=s.batch_window_seconds)
        await batcher.consume(stream.events())

    return ingest
