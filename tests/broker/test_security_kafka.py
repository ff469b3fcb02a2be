"""The worker through SASL/PLAIN to a real Kafka that requires it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer

from pipeline.kafka_admin import security
from pipeline.settings import Settings
from tests.broker.conftest import collect, kafka_sh, make_worker, produce
from tests.broker.test_pipeline_kafka import root

pytestmark = pytest.mark.broker

# Below the ephemeral range (32768 and up here): a client's source port once took 39192
# before this broker bound it ("Address already in use"; CI, 2026-11-27).
PORT, SASL_PORT = 21600, 21604
PASSWORD = "s3cr3t-Pa55word-for-the-test"


@pytest.fixture(scope="module")
def sasl_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with kafka_sh(
        tmp_path_factory.mktemp("kafka-sasl"),
        KAFKA_PORT=str(PORT),
        KAFKA_SASL_PORT=str(SASL_PORT),
        KAFKA_SASL_USERS=f"flashpoint:{PASSWORD}",
    ):
        yield f"127.0.0.1:{SASL_PORT}"


def test_the_worker_runs_through_sasl_plain(sasl_kafka: str, settings: Settings, tmp_path: Path) -> None:
    s = settings.replace(
        bootstrap_servers=sasl_kafka,
        kafka_security_protocol="SASL_PLAINTEXT",
        kafka_sasl_mechanism="PLAIN",
        kafka_sasl_username="flashpoint",
        kafka_sasl_password=PASSWORD,
    )
    worker = make_worker(s, tmp_path / "worker.log")
    try:
        worker.start()
        worker.wait_ready()

        async def go() -> list:  # type: ignore[type-arg]
            await produce(s.bootstrap_servers, s.topic_mentions, [root("sasl1")], **security(s))
            return await collect(s.bootstrap_servers, s.topic_escalations, 1, 120, worker, client=security(s))

        (event,) = asyncio.run(go())
        assert b"sasl1" in (event[1] or b"")
    finally:
        worker.stop()
    assert PASSWORD not in worker.log.read_text(errors="replace"), "the password never reaches the log"


def test_a_wrong_password_is_refused(sasl_kafka: str) -> None:
    from aiokafka.errors import KafkaError

    s = Settings(
        bootstrap_servers=sasl_kafka,
        kafka_security_protocol="SASL_PLAINTEXT",
        kafka_sasl_username="flashpoint",
        kafka_sasl_password="wrong",
    )

    async def go() -> None:
        p = AIOKafkaProducer(bootstrap_servers=s.bootstrap_servers, **security(s))
        try:
            await p.start()
        finally:
            await p.stop()

    with pytest.raises(KafkaError):
        asyncio.run(go())


def test_plaintext_clients_are_not_let_in_on_the_sasl_port(sasl_kafka: str) -> None:
    async def go() -> None:
        p = AIOKafkaProducer(bootstrap_servers=sasl_kafka, request_timeout_ms=5000)
        try:
            await asyncio.wait_for(p.start(), 20)
        finally:
            await p.stop()

    with pytest.raises(Exception):  # noqa: B017 - aiokafka raises several kinds here
        asyncio.run(go())
