"""The JSON Schemas of Flashpoint's public records, one file per record and version:
``mention.v1.json`` (what integrators produce) and ``escalation.v1.json`` (what ops
consume)."""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

import jsonschema
import orjson

# Why a message broke its contract, in a word: a bounded set that metrics and alerts
# group by (the sentence for people stays in the exception and the dead letter).
REASON_CODES = (
    "empty",
    "not_json",
    "not_object",
    "missing_field",
    "wrong_type",
    "invalid_value",
    "bad_time",
    "unsupported_version",
)


class InvalidMessage(ValueError):
    """A message breaks a record's contract; ``str(exc)`` is the reason, ``code`` one of
    :data:`REASON_CODES`."""

    def __init__(self, reason: str, code: str = "invalid_value") -> None:
        super().__init__(reason)
        self.code = code


def reason_code(error: jsonschema.ValidationError) -> str:
    """The reason code of a JSON Schema finding."""
    if error.validator == "required":
        return "missing_field"
    if error.validator == "type":
        return "wrong_type"
    if error.validator == "const" and list(error.absolute_path) == ["schema_version"]:
        return "unsupported_version"
    return "invalid_value"


@cache
def load(name: str) -> dict[str, Any]:
    """A schema by file name, e.g. ``"escalation.v1.json"``."""
    loaded: dict[str, Any] = orjson.loads(resources.files(__name__).joinpath(name).read_text())
    return loaded
