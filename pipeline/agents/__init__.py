"""The Faust agents and timers, one module each, wired together by :func:`pipeline.app.build`.

    mentions --ingest--> mentions.classified --track--> escalations.desk --track--> escalations
        |                                        ^                                      |
        +--> mentions.dead-letter                +-- feedback <-- escalations.feedback  +--> mentions.corrections

- :mod:`.ingest`: validate, match brands, classify (in a child process), forward one
  record per partition of ``mentions.classified``, or dead-letter. At least once.
- :mod:`.track`: the cascade stage and the desk, exactly once through
  :class:`pipeline.checkpoint.Checkpoint`.
- :mod:`.feedback`: checks ops feedback and hands it to the desk.
- :mod:`.timers`: the commit timer, the desk's clock and consumer lag; and what the
  worker does when partitions are assigned and revoked.

Each takes a small context of what it uses and only moves bytes: what happens to a
mention is decided by the plain functions of :mod:`pipeline.flow`.
"""

from __future__ import annotations

import logging
from typing import Any

from pipeline import metrics
from pipeline.records import DeadLetter

log = logging.getLogger(__name__)


def dead_lettered(source: str, letter: DeadLetter, message: str = "dead letter: %s", failed: bool = False) -> None:
    """Count and log one dead letter; where it came from is in the letter itself.
    ``failed``: log it as an error with the traceback being handled (a Flashpoint bug)."""
    metrics.DEAD_LETTERS.labels(source, letter.code).inc()
    where: dict[str, Any] = {"topic": letter.source_topic, "reason_code": letter.code}
    if letter.source_offset >= 0:
        where |= {"partition": letter.source_partition, "offset": letter.source_offset}
    log.log(logging.ERROR if failed else logging.WARNING, message, letter.reason, extra=where, exc_info=failed)
