"""Ops feedback in: bytes from the feedback topic become a valid :class:`Feedback`, or
a reason for the dead-letter topic. The JSON Schema file is the contract."""

from __future__ import annotations

from functools import cache

import jsonschema
import orjson

from pipeline import schemas
from pipeline.records import Feedback

SCHEMA_RESOURCE = "feedback.v1.json"


class InvalidFeedback(schemas.InvalidMessage):
    """The message breaks the feedback contract; ``str(exc)`` is the reason."""


@cache
def _validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(schemas.load(SCHEMA_RESOURCE), format_checker=jsonschema.FormatChecker())


def parse(raw: bytes | None) -> Feedback:
    try:
        doc = orjson.loads(raw or b"")
    except orjson.JSONDecodeError as exc:
        raise InvalidFeedback(f"not valid JSON: {exc}", "not_json") from None
    if not isinstance(doc, dict):
        raise InvalidFeedback("expected a JSON object", "not_object")
    error = next(iter(sorted(_validator().iter_errors(doc), key=lambda e: list(e.absolute_path))), None)
    if error is not None:
        where = "/".join(map(str, error.absolute_path)) or "feedback"
        raise InvalidFeedback(f"{where}: {error.message}", schemas.reason_code(error))
    return Feedback.from_dict(doc)
