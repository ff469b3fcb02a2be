"""Which process trains which cross-validation fold, when several share one
``--keep-folds`` directory.

A fine-tuned fold takes 15 to 40 minutes on one CPU core, and a small machine has two:
two processes running the same command on the same directory should split the folds,
not both train the first one. Before training a fold a process creates
``<fold>.claim`` (exclusively, so only one succeeds) holding its host and pid; the other
moves on to the next fold and, when it has run out, waits for the claimed folds' results
to appear. A claim whose process has died (same host, pid gone) is taken over, so a run
killed mid-fold is resumed by the next one. Pure standard library: tested without torch.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path


def claim(path: Path) -> bool:
    """Claim ``path`` for this process: True if it is now ours (new, already ours, or
    its owner is gone), False while another live process holds it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        if _owner(path) == _me():
            return True
        if held_by_other(path):
            return False
        # The owner died mid-fold (or left an unreadable claim): remove it and claim
        # afresh, so of two processes taking it over at once only one succeeds.
        path.unlink(missing_ok=True)
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
    with os.fdopen(fd, "w") as f:
        f.write(json.dumps(_me()) + "\n")
    return True


def held_by_other(path: Path) -> bool:
    """True while another live process holds ``path``."""
    if not path.exists():
        return False
    owner = _owner(path)
    if owner is None:
        return _age(path) < 60.0  # just created by another process, not written yet
    return owner != _me() and _alive(owner)


def release(path: Path) -> None:
    path.unlink(missing_ok=True)


def _me() -> dict[str, object]:
    return {"host": socket.gethostname(), "pid": os.getpid()}


def _owner(path: Path) -> dict[str, object] | None:
    try:
        owner = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return owner if isinstance(owner, dict) and {"host", "pid"} <= owner.keys() else None


def _age(path: Path) -> float:
    try:
        return time.time() - path.stat().st_mtime
    except OSError:
        return 0.0


def _alive(owner: dict[str, object]) -> bool:
    if owner["host"] != socket.gethostname():
        # Another machine's process cannot be checked from here: trust its claim.
        return True
    pid = owner["pid"]
    if not isinstance(pid, int):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
