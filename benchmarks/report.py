"""What every benchmark script shares: the CPU it ran on, and printing and saving its result."""

from __future__ import annotations

import json
import platform
from pathlib import Path
from typing import Any


def cpu() -> str:
    """The CPU's model name: figures are compared only within one machine kind."""
    for line in Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []:
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def emit(result: dict[str, Any], path: Path | None) -> None:
    """Print the result as JSON, and write it to ``path`` too when given."""
    text = json.dumps(result, indent=2)
    print(text)
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n")
