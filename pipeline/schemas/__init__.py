"""The JSON Schemas of Flashpoint's public records, one file per record and version:
``mention.v1.json`` (what integrators produce) and ``escalation.v1.json`` (what ops
consume)."""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

import orjson


@cache
def load(name: str) -> dict[str, Any]:
    """A schema by file name, e.g. ``"escalation.v1.json"``."""
    loaded: dict[str, Any] = orjson.loads(resources.files(__name__).joinpath(name).read_text())
    return loaded
