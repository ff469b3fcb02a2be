"""The feedback agent: escalations.feedback -> escalations.desk (or the dead-letter topic).

Stateless and at least once: the desk ignores feedback it has already applied.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import cast

import faust
from faust.streams import Stream
from faust.types import StreamT

from pipeline import metrics
from pipeline.agents import dead_lettered
from pipeline.escalation.feedback import InvalidFeedback, parse
from pipeline.records import BrandSignal, DeadLetter
from pipeline.settings import Settings


def agent(s: Settings, app: faust.App) -> Callable[[StreamT[bytes]], Awaitable[None]]:
    async def feedback(source: StreamT[bytes]) -> None:
        stream = cast(Stream[bytes], source)
        async for event in stream.events():
            m = event.message
            try:
                fb = parse(event.value)
            except InvalidFeedback as exc:
                metrics.FEEDBACK.labels("dead_letter").inc()
                letter = DeadLetter(str(exc), m.topic, m.partition, m.offset, datetime.now(UTC), code=exc.code)
                dead_lettered("feedback", letter)
                await app.producer.send_and_wait(
                    s.topic_dead_letter, event.key, event.value or b"", None, None, letter.headers()
                )
                continue
            metrics.FEEDBACK.labels(fb.action).inc()
            sig = BrandSignal("feedback", fb.brand, datetime.now(UTC).isoformat(), feedback=fb.to_dict())
            await app.producer.send_and_wait(s.topic_desk, fb.brand.encode(), sig.to_json(), None, None, None)

    return feedback
