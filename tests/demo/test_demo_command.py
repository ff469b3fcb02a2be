"""``flashpoint demo`` end to end on its embedded broker, as a user runs it."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys

import pytest


def demo_env() -> dict[str, str]:
    """The demo's worker on a port of its own: other tests may run workers meanwhile."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return {**os.environ, "FLASHPOINT_METRICS_PORT": str(port)}


def assert_nothing_left_behind(demo_output: str) -> None:
    """The worker process is gone and the embedded broker's port is closed."""
    worker_pid = int(re.search(r"worker pid (\d+)", demo_output).group(1))  # type: ignore[union-attr]
    with pytest.raises(ProcessLookupError):
        os.kill(worker_pid, 0)
    port = int(re.search(r"on 127\.0\.0\.1:(\d+)", demo_output).group(1))  # type: ignore[union-attr]
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


def test_demo_prints_escalations_and_dead_letters_and_leaves_nothing_behind() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "pipeline", "demo", "--duration", "45", "--speed", "200"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=demo_env(),
    )
    assert out.returncode == 0, out.stdout + out.stderr
    text = out.stdout
    assert "embedded broker (tansu)" in text
    assert re.search(r"\[CRITICAL\] UPGRADE Acme: @alice", text), text
    assert re.search(r"OPEN +Acme: @alice", text)
    assert re.search(r"OPEN +Northwind Air: @travel_with_tess", text), "the influencer escalates"
    assert "grateful_dad" not in text, "praise never escalates"
    assert text.count("[DEAD LETTER]") == 3
    assert "parent_id is required for a repost" in text
    opens = re.findall(r"OPEN +(.+?): @", text)
    assert len(opens) == len(set(opens)), "one open per cascade"

    assert_nothing_left_behind(text)


def test_ctrl_c_stops_the_demo_and_everything_it_started() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipeline", "demo", "--speed", "200"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=demo_env(),
    )
    assert proc.stdout is not None
    seen: list[str] = []
    for line in proc.stdout:
        seen.append(line)
        if line.startswith("[INFO") or line.startswith("[ERROR") or line.startswith("[WARNING"):
            break
    proc.send_signal(signal.SIGINT)
    rest, _ = proc.communicate(timeout=60)
    text = "".join(seen) + rest
    assert proc.returncode == 130, text
    assert "stopping" in text
    assert_nothing_left_behind(text)
