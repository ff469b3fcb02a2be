from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from pipeline.telemetry.health import Readiness, serve, wait_ready


@pytest.fixture
def endpoint() -> Iterator[tuple[str, Readiness]]:
    readiness = Readiness(broker_grace=30.0)
    server = serve(0, readiness, host="127.0.0.1")
    try:
        yield f"http://127.0.0.1:{server.server_port}", readiness
    finally:
        server.shutdown()
        server.server_close()


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_health_answers_while_nothing_else_is_ready(endpoint: tuple[str, Readiness]) -> None:
    url, _ = endpoint
    assert get(url + "/health") == (200, b'{"alive": true}\n')


def test_ready_only_once_model_partitions_and_broker_are_in_place(endpoint: tuple[str, Readiness]) -> None:
    url, readiness = endpoint
    status, body = get(url + "/ready")
    assert status == 503
    assert json.loads(body)["checks"] == {
        "model_loaded": False,
        "partitions_assigned": False,
        "broker_reachable": False,
    }
    readiness.set(model_loaded=True, assigned=True, partitions=3)
    assert get(url + "/ready")[0] == 503, "the broker has not answered yet"
    import time

    readiness.set(broker_ok_at=time.monotonic())
    status, body = get(url + "/ready")
    assert status == 200 and json.loads(body)["partitions"] == 3
    assert b"flashpoint_ready 1.0" in get(url + "/metrics")[1]


def test_ready_fails_when_the_broker_has_been_silent_too_long() -> None:
    r = Readiness(broker_grace=30.0, model_loaded=True, assigned=True, broker_ok_at=100.0)
    assert r.check(now=129.0)[0] is True
    ready, body = r.check(now=131.0)
    assert ready is False and body["checks"]["broker_reachable"] is False
    assert body["broker_last_seen_seconds_ago"] == 31.0


def test_metrics_are_served_and_nothing_else_is(endpoint: tuple[str, Readiness]) -> None:
    url, _ = endpoint
    status, body = get(url + "/metrics")
    assert status == 200 and b"# TYPE flashpoint_mentions_total counter" in body
    # Faust's web server would answer these with table contents: here they do not exist.
    for path in ("/", "/table/cascades/", "/router/", "/graph/"):
        assert get(url + path)[0] == 404, path


def test_wait_ready_until_200_an_exit_or_the_timeout(endpoint: tuple[str, Readiness]) -> None:
    url, readiness = endpoint
    port = int(url.rsplit(":", 1)[1])
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        with pytest.raises(TimeoutError, match="not ready after 1s"):
            wait_ready(alive, port, timeout=1.0)  # 503: the model is not loaded
        readiness.set(model_loaded=True, assigned=True, broker_ok_at=time.monotonic())
        assert wait_ready(alive, port, timeout=10.0) is True
    finally:
        alive.kill()
        alive.wait()
    exited = subprocess.Popen([sys.executable, "-c", "pass"])
    exited.wait()
    assert wait_ready(exited, port) is False  # gone before it was ready: no waiting forever
