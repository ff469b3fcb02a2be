"""Topic creation and small Kafka helpers shared by the worker, the demo and tests,
and the one place Kafka security settings become client options."""

from __future__ import annotations

import asyncio
import logging
import ssl
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, TopicAlreadyExistsError

from pipeline.settings import Settings

log = logging.getLogger(__name__)


def security(s: Settings) -> dict[str, Any]:
    """aiokafka keyword arguments for the configured TLS and SASL: every client
    Flashpoint makes (admin, producers, consumers, the lag probe) takes these."""
    protocol = s.kafka_security_protocol
    out: dict[str, Any] = {"security_protocol": protocol}
    if protocol in ("SSL", "SASL_SSL"):
        out["ssl_context"] = ssl_context(s)
    if protocol.startswith("SASL"):
        out |= {
            "sasl_mechanism": s.kafka_sasl_mechanism,
            "sasl_plain_username": s.kafka_sasl_username,
            "sasl_plain_password": s.kafka_sasl_password,
        }
    return out


def ssl_context(s: Settings) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=s.kafka_ssl_cafile or None)
    if s.kafka_ssl_certfile:
        ctx.load_cert_chain(s.kafka_ssl_certfile, s.kafka_ssl_keyfile or None)
    return ctx


def faust_credentials(s: Settings) -> Any:
    """The same settings as Faust's ``broker_credentials`` (None for PLAINTEXT)."""
    import faust

    protocol = s.kafka_security_protocol
    if protocol.startswith("SASL"):
        ctx = ssl_context(s) if protocol == "SASL_SSL" else None
        return faust.SASLCredentials(
            username=s.kafka_sasl_username,
            password=s.kafka_sasl_password,
            mechanism=s.kafka_sasl_mechanism,
            ssl_context=ctx,
        )
    if protocol == "SSL":
        return faust.SSLCredentials(ssl_context(s))
    return None


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


async def start_clients(*clients: Any) -> None:
    """Start aiokafka clients in order. If one cannot (no broker, say), stop it and
    those started before it, then raise: aiokafka leaves a client that failed to start
    half open, and complains about it when the process exits."""
    started: list[Any] = []
    try:
        for c in clients:
            started.append(c)
            await c.start()
    except BaseException:
        for c in reversed(started):
            await c.stop()
        raise


async def wait_for_broker(bootstrap_servers: str, timeout: float, **client: Any) -> None:
    """Return once the cluster answers a metadata request; raise after ``timeout``.
    ``client``: security options (:func:`security`)."""
    deadline = asyncio.get_running_loop().time() + timeout
    last: Exception | None = None
    # The client logs an error per failed attempt, two a second; the one that counts
    # is raised at the end.
    client_log = logging.getLogger("aiokafka")
    level = client_log.level
    client_log.setLevel(logging.CRITICAL)
    try:
        while asyncio.get_running_loop().time() < deadline:
            admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=5000, **client)
            try:
                await admin.start()
                await admin.list_topics()
                return
            except (TimeoutError, KafkaConnectionError, OSError) as exc:
                last = exc
                await asyncio.sleep(0.5)
            finally:
                await admin.close()
    finally:
        client_log.setLevel(level)
    raise TimeoutError(
        f"no Kafka broker answered at {bootstrap_servers} within {timeout:.0f} s "
        f"(FLASHPOINT_BROKER_WAIT_SECONDS): {last}"
    )


async def partition_count(bootstrap_servers: str, topic: str, **client: Any) -> int:
    """How many partitions ``topic`` has; 0 when it does not exist (never creates it)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=15000, **client)
    await admin.start()
    try:
        if topic not in set(await admin.list_topics()):
            return 0
        (described,) = await admin.describe_topics([topic])
        return len(described.get("partitions") or ())
    finally:
        await admin.close()


async def ensure_topics(s: Settings, names: list[str] | None = None) -> None:
    """Create Flashpoint's topics with ``s.partitions`` partitions where missing.

    Done before the worker starts: a producer that reached a missing topic first would
    have it auto-created with the broker's default partition count, and Faust refuses
    tables whose changelog and source differ in partitions.
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=s.bootstrap_servers, request_timeout_ms=15000, **security(s))
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
