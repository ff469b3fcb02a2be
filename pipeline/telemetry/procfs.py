"""A process and its children, as Linux's /proc sees them: the worker runs its model in
a child process, so its memory and CPU are the sum over the tree (benchmarks, tests)."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


def tree(pid: int) -> list[int]:
    """``pid`` and every live descendant."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
    return out


def memory_kib(pid: int, field: str = "VmRSS") -> int:
    """``field`` of /proc/PID/status summed over the tree (VmRSS now, VmHWM at peak)."""
    total = 0
    for p in tree(pid):
        with contextlib.suppress(OSError, StopIteration):
            status = Path(f"/proc/{p}/status").read_text()
            total += int(next(line.split()[1] for line in status.splitlines() if line.startswith(f"{field}:")))
    return total


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time over the tree."""
    total = 0.0
    for p in tree(pid):
        with contextlib.suppress(OSError):
            stat = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(stat[11]) + int(stat[12])) / TICK
    return total
