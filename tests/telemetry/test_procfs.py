from __future__ import annotations

import os
import subprocess
import sys

from pipeline.telemetry import procfs


def test_a_process_tree_counts_its_children() -> None:
    child = subprocess.Popen([sys.executable, "-c", "x = bytearray(64 << 20); import time; time.sleep(30)"])
    try:
        me = os.getpid()
        deadline = 50
        while procfs.memory_kib(child.pid) < 64 << 10 and deadline:
            deadline -= 1
            subprocess.run(["sleep", "0.1"], check=True)
        assert child.pid in procfs.tree(me)
        alone = procfs.memory_kib(me) - procfs.memory_kib(child.pid)
        assert procfs.memory_kib(me) >= alone + (64 << 10)
        assert procfs.cpu_seconds(me) > 0
    finally:
        child.kill()
        child.wait()
