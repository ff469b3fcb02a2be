"""The worker's HTTP endpoints for SREs and Kubernetes: /metrics, /health, /ready.

A stdlib server on its own thread: liveness must answer even while the event loop is
busy with a long batch, and nothing here touches the loop (the worker pushes its state
into :class:`Readiness`). Faust's web server stays off: it would also serve its tables.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from pipeline import metrics


@dataclass
class Readiness:
    """What /ready checks. The worker sets the fields; ``check`` reads them.

    - model loaded;
    - a partition assignment completed and not revoked since (a worker with more peers
      than partitions is assigned nothing, and is ready: it is in the group);
    - the broker answered within ``broker_grace`` seconds (the lag probe's requests).
    """

    broker_grace: float = 60.0
    model_loaded: bool = False
    assigned: bool = False
    partitions: int = 0
    broker_ok_at: float | None = None  # time.monotonic() of the last broker answer
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def set(self, **changes: Any) -> None:
        with self._lock:
            for k, v in changes.items():
                setattr(self, k, v)

    def check(self, now: float | None = None) -> tuple[bool, dict[str, Any]]:
        now = time.monotonic() if now is None else now
        with self._lock:
            broker_ok = self.broker_ok_at is not None and now - self.broker_ok_at <= self.broker_grace
            checks = {
                "model_loaded": self.model_loaded,
                "partitions_assigned": self.assigned,
                "broker_reachable": broker_ok,
            }
            detail = {
                "partitions": self.partitions,
                "broker_last_seen_seconds_ago": None
                if self.broker_ok_at is None
                else round(now - self.broker_ok_at, 1),
            }
        ready = all(checks.values())
        metrics.READY.set(1 if ready else 0)
        return ready, {"ready": ready, "checks": checks, **detail}


class _Handler(BaseHTTPRequestHandler):
    readiness: Readiness

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            self._send(200, generate_latest(REGISTRY), CONTENT_TYPE_LATEST)
        elif path in ("/health", "/healthz", "/livez"):
            self._send(200, b'{"alive": true}\n', "application/json")
        elif path in ("/ready", "/readyz"):
            ready, body = self.readiness.check()
            self._send(200 if ready else 503, json.dumps(body).encode() + b"\n", "application/json")
        else:
            self._send(404, b'{"error": "not found: try /metrics, /health or /ready"}\n', "application/json")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        # Probes hit this every few seconds: access lines would drown the worker's log.
        pass


def wait_ready(proc: subprocess.Popen[bytes], port: int, timeout: float | None = None) -> bool:
    """Until the worker process ``proc`` answers 200 on /ready (True), or exits first
    (False). TimeoutError after ``timeout`` seconds (None: no limit)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while proc.poll() is None:
        if deadline is not None and time.monotonic() >= deadline:
            raise TimeoutError(f"the worker was not ready after {timeout:.0f}s")
        with contextlib.suppress(OSError), urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=2) as r:
            if r.status == 200:
                return True
        time.sleep(0.3)
    return False


def serve(port: int, readiness: Readiness, host: str = "0.0.0.0") -> ThreadingHTTPServer:
    """Start the endpoints on a daemon thread; the server (``.server_port`` is the port
    bound, useful with ``port=0``)."""
    handler = type("Handler", (_Handler,), {"readiness": readiness})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="telemetry-http", daemon=True).start()
    return server
