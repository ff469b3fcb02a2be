"""The fault suite, broker failures: the only broker restarted, and a node of a 3-node
cluster killed and back (tests/broker/faults.py says how the scenarios work)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from pipeline.classification import ComplaintModel
from pipeline.settings import Settings
from tests.broker.conftest import kafka_sh
from tests.broker.faults import (
    fault_settings,
    kafka_cmd,
    replay_with_fault,
)

pytestmark = pytest.mark.broker


def test_a_single_broker_restarted_mid_stream(
    settings: Settings, tmp_path: Path, model: ComplaintModel, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Issue 7.3: the only broker stops (SIGTERM) and comes back; the worker carries on."""
    port, state = 21400, tmp_path_factory.mktemp("kafka-restart")
    with kafka_sh(state, KAFKA_PORT=str(port)):
        s = fault_settings(settings, tmp_path, bootstrap_servers=f"127.0.0.1:{port}")

        def restart_broker() -> dict[str, Any]:
            t = time.monotonic()
            kafka_cmd(state, port, "stop")
            time.sleep(10)  # down for a while, as in a rolling upgrade gone slow
            kafka_cmd(state, port, "restart", "1")
            return {"broker_down_s": round(time.monotonic() - t, 1)}

        replay_with_fault("broker-restart", s, tmp_path, model, restart_broker)


def test_three_node_cluster_loses_a_broker_mid_stream(
    settings: Settings, tmp_path: Path, model: ComplaintModel, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Issue 7.3: replication factor 3, min.insync.replicas=2, acks=all; node 1 is
    SIGKILLed mid-stream and restarted later: zero loss, zero duplicates."""
    port, state = 21500, tmp_path_factory.mktemp("kafka-cluster")
    with kafka_sh(state, "3", KAFKA_PORT=str(port)):
        servers = ",".join(f"127.0.0.1:{port + 2 * i}" for i in range(3))
        s = fault_settings(settings, tmp_path, bootstrap_servers=servers, replication_factor=3)

        def kill_node() -> dict[str, Any]:
            t = time.monotonic()
            kafka_cmd(state, port, "kill", "1")
            time.sleep(20)  # the cluster runs on two nodes meanwhile
            kafka_cmd(state, port, "restart", "1")
            return {"node_killed": 1, "node_down_s": round(time.monotonic() - t, 1)}

        report = replay_with_fault("cluster-node-killed", s, tmp_path, model, kill_node)
        assert report["lost"] == 0 and report["duplicated"] == 0
