"""Topic creation and small Kafka helpers shared by the worker, the demo and tests."""

from __future__ import annotations

import asyncio
import logging

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, TopicAlreadyExistsError

from pipeline.settings import Settings

log = logging.getLogger(__name__)


def topic_names(s: Settings) -> list[str]:
    return [
        s.topic_mentions,
        s.topic_dead_letter,
        s.topic_classified,
        s.topic_desk,
        s.topic_escalations,
        s.topic_feedback,
        s.topic_corrections,
    ]


async def wait_for_broker(bootstrap_servers: str, timeout: float = 60.0) -> None:
    """Return once the cluster answers a metadata request; raise after ``timeout``."""
    deadline = asyncio.get_running_loop().time() + timeout
    last: Exception | None = None
    while asyncio.get_running_loop().time() < deadline:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=5000)
        try:
            await admin.start()
            await admin.list_topics()
            return
        except (TimeoutError, KafkaConnectionError, OSError) as exc:
            last = exc
            await asyncio.sleep(0.5)
        finally:
            await admin.close()
    raise TimeoutError(f"no Kafka broker answered at {bootstrap_servers} within {timeout:.0f}s: {last}")


async def ensure_topics(s: Settings, names: list[str] | None = None) -> None:
    """Create Flashpoint's topics with ``s.partitions`` partitions where missing.

    Done before the worker starts: a producer that reached a missing topic first would
    have it auto-created with the broker's default partition count, and Faust refuses
    tables whose changelog and source differ in partitions.
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=s.bootstrap_servers, request_timeout_ms=15000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [n for n in (names or topic_names(s)) if n not in existing]
        for name in wanted:
            try:
                await admin.create_topics(
                    [NewTopic(name, num_partitions=s.partitions, replication_factor=s.replication_factor)]
                )
                log.info("created topic %s (%d partitions)", name, s.partitions)
            except TopicAlreadyExistsError:
                pass
    finally:
        await admin.close()
