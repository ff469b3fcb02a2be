"""The worker's ingest step (:func:`pipeline.flow.ingest`: decode, match brands,
classify) in a process of its own.

On a thread of the worker, the model shared the GIL with the event loop: PyTorch
releases it inside each operator but must take it back between them, and a busy loop
(the cascade stage, Kafka I/O) holds it for up to 5 ms at a time. Measured with this
project's int8 encoder: a batch of 18 posts took 77 ms alone and 2.3 s beside a busy
Python thread. Decoding and matching moved with it, so the loop only sends bytes.

The child loads the watchlist and the model once, from the same settings, and answers
one batch at a time. Should it die, the next call raises ``BrokenProcessPool``: the
ingest agent fails, the worker starts over, and the batch's offsets stay uncommitted.
Should the worker die, the child notices within a second and exits.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from typing import Any

from pipeline import flow
from pipeline.flow import Incoming
from pipeline.settings import Settings

_loaded: tuple[Any, Any, Any] | None = None  # (Watchlist, ComplaintModel, TopicIndex), in the child only
_partitions = 1  # of topic_classified, in the child only


def model_threads(s: Settings) -> int:
    """PyTorch threads for the model: every core but the one the event loop needs. With
    both cores of a 2-core machine, each operator waited for the thread that shared a
    core with the loop (deployed throughput 345 against 163 posts/s with one thread)."""
    return s.model_threads or max(1, (os.cpu_count() or 2) - 1)


def _start(s: Settings, parent: int) -> dict[str, str]:
    # A task rather than the pool's initializer: a failed load raises its own error (a
    # missing model file says so), not a bare broken pool.
    global _loaded, _partitions
    threading.Thread(target=_exit_with, args=(parent,), name="orphan-watch", daemon=True).start()
    from pipeline.telemetry.logs import configure

    configure(s.log_level, s.log_format)
    _loaded = _load(s)
    _partitions = s.partitions
    model = _loaded[1]
    return {"version": model.version, "device": str(model.encoder.device), "precision": model.encoder.precision}


def _load(s: Settings) -> tuple[Any, Any, Any]:
    """(Watchlist, ComplaintModel, TopicIndex) from the settings, with the model's
    thread count; the watchlist's topic examples are embedded once, here."""
    import torch

    from pipeline.brands import Watchlist
    from pipeline.classification import ComplaintModel
    from pipeline.classification.topics import TopicIndex

    torch.set_num_threads(model_threads(s))
    watchlist = Watchlist.load(s.watchlist)
    model = ComplaintModel.load(s.model_dir, s.device, s.precision)
    topics = TopicIndex.build(
        watchlist.topics(),
        model.encoder.routing,
        watchlist.teams(),
        s.routing_min_similarity,
    )
    return watchlist, model, topics


def _exit_with(parent: int) -> None:
    # A SIGKILLed worker cannot stop its pool, and the pool's queues never report the
    # parent gone (the child holds both ends of its pipe): without this, each crash left
    # a 1 GB model process behind (seen in the fault suite).
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(0)


def _ingest(batch: list[Incoming], now: datetime) -> flow.Encoded:
    assert _loaded is not None, "ingest process used before start"
    watchlist, model, topics = _loaded
    return flow.ingest(batch, watchlist, model, now, topics).encoded(_partitions)


class IngestProcess:
    """:func:`pipeline.flow.ingest` in a child process, awaited from the event loop."""

    def __init__(self, s: Settings) -> None:
        # spawn, not fork: the parent holds threads, and CUDA cannot be forked.
        self._pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
        try:
            info = self._pool.submit(_start, s, os.getpid()).result()
        except BaseException:
            self._pool.shutdown(cancel_futures=True)
            raise
        self.version: str = info["version"]
        self.device: str = info["device"]
        self.precision: str = info["precision"]

    async def ingest(self, batch: list[Incoming]) -> flow.Encoded:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, _ingest, batch, datetime.now(UTC))

    def close(self) -> None:
        self._pool.shutdown(cancel_futures=True)


class InlineIngest:
    """The naive design benchmarks compare against (``flashpoint worker --naive``): the
    ingest step on the event loop itself, one mention at a time."""

    def __init__(self, s: Settings) -> None:
        self._watchlist, self._model, self._topics = _load(s)
        self._partitions = s.partitions
        self.version: str = self._model.version
        self.device: str = str(self._model.encoder.device)
        self.precision: str = self._model.encoder.precision

    async def ingest(self, batch: list[Incoming]) -> flow.Encoded:
        now = datetime.now(UTC)
        return flow.ingest(batch, self._watchlist, self._model, now, self._topics).encoded(self._partitions)

    def close(self) -> None:
        pass
