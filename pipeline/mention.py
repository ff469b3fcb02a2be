"""Stage 1: raw bytes from integrators become a validated :class:`Mention`, or a reason.

The JSON Schema file is the contract and the single source of the structural rules;
this module adds what JSON Schema cannot say well (a real calendar time) and turns the
validator's findings into one sentence a person can act on.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any

import fastjsonschema
import jsonschema
import orjson

from pipeline import schemas
from pipeline.records import Author, Mention

SCHEMA_RESOURCE = "mention.v1.json"


class InvalidMention(schemas.InvalidMessage):
    """The message breaks the input contract; ``str(exc)`` is the reason, for people,
    and ``code`` its reason code, for metrics and alerts."""


def schema() -> dict[str, Any]:
    return schemas.load(SCHEMA_RESOURCE)


@cache
def _validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(schema())


@cache
def _passes() -> Any:
    """The same schema compiled to plain Python by fastjsonschema: it raises on a bad
    message. jsonschema took 150 of the 170 microseconds a mention cost in the ingest
    step, in the model's process, for every mention."""
    return fastjsonschema.compile(schema())


def _errors(doc: dict[str, Any]) -> list[jsonschema.ValidationError]:
    """jsonschema's findings, most local first; none for a valid message. The compiled
    check decides alone only when it passes: a message it rejects is judged (and, if
    bad, described) by jsonschema, so where the two differ (fastjsonschema reads
    ``$`` in a pattern strictly) jsonschema has the last word, and a test holds the
    compiled check to never passing what jsonschema rejects."""
    try:
        _passes()(doc)
        return []
    except fastjsonschema.JsonSchemaException:
        return sorted(_validator().iter_errors(doc), key=_error_rank)


def parse(raw: bytes | None) -> Mention:
    """Decode and validate one message value; raise :class:`InvalidMention` if it is bad."""
    if raw is None or raw == b"":
        raise InvalidMention("empty message: expected one JSON object (mention schema v1)", "empty")
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidMention(f"not valid JSON: {exc}", "not_json") from None
    if not isinstance(doc, dict):
        raise InvalidMention(
            f"expected a JSON object (mention schema v1), got a JSON {type(doc).__name__}", "not_object"
        )
    if _deeper_than(doc, MAX_DEPTH):
        # The validator recurses into values (and reprs them): a deep enough extra field
        # would exhaust Python's stack. No mention field needs more than two levels.
        raise InvalidMention(f"a value is nested deeper than {MAX_DEPTH} levels", "invalid_value")
    errors = _errors(doc)
    if errors:
        raise InvalidMention(_describe(errors[0]), schemas.reason_code(errors[0]))
    created_at = _parse_time(doc["created_at"])
    author = doc["author"]
    return Mention(
        id=doc["id"],
        platform=doc["platform"],
        kind=doc["kind"],
        text=doc["text"],
        created_at=created_at,
        author=Author(
            id=author["id"],
            handle=author["handle"].lstrip("@"),
            followers=author["followers"],
            verified=bool(author.get("verified", False)),
        ),
        parent_id=doc.get("parent_id"),
        root_id=doc.get("root_id"),
        in_reply_to_handle=(doc.get("in_reply_to_handle") or "").lstrip("@") or None,
        lang=doc.get("lang"),
        url=doc.get("url"),
    )


MAX_DEPTH = 32


def _deeper_than(doc: Any, limit: int) -> bool:
    stack = [(doc, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)
    return False


def _parse_time(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidMention(
            f"created_at: {value!r} is not an RFC 3339 date-time such as 2026-11-22T14:00:00Z", "bad_time"
        ) from None
    if parsed.tzinfo is None:
        raise InvalidMention(f"created_at: {value!r} has no time zone (add Z or +00:00)", "bad_time")
    return parsed


def _error_rank(error: jsonschema.ValidationError) -> tuple[int, str]:
    # Conditional rules (a repost without parent_id) report through allOf/if: put the
    # plain, local findings first so the reason names the field itself.
    return (len(error.absolute_path) == 0 and error.validator == "allOf", str(error.path))


def _describe(error: jsonschema.ValidationError) -> str:
    path = ".".join(str(p) for p in error.absolute_path)
    where = f"{path}: " if path else ""
    v = error.validator
    if v == "required":
        missing = str(error.message).split("'")[1] if "'" in error.message else error.message
        if path == "" and missing == "parent_id":
            kind = error.instance.get("kind") if isinstance(error.instance, dict) else "?"
            return f"parent_id is required for a {kind}: the post it responds to or shares"
        return f"{where}missing required field {missing!r}"
    if v == "enum" and path == "kind":
        return f"kind: {error.instance!r} is not one of post, reply, quote, repost"
    if v == "type":
        return f"{where}expected {error.validator_value}, got {type(error.instance).__name__} {error.instance!r:.60}"
    if v == "minimum":
        return f"{where}must be >= {error.validator_value}, got {error.instance}"
    if v == "maximum":
        return f"{where}must be <= {error.validator_value:,}, got {error.instance:,}"
    if v == "maxLength":
        return f"{where}longer than {error.validator_value} characters ({len(error.instance)})"
    if v == "minLength":
        if error.validator_value == 1:
            return f"{where}must not be empty"
        return f"{where}{error.instance!r} is shorter than {error.validator_value} characters"
    if v == "const" and path == "schema_version":
        return f"schema_version: this worker reads version 1, got {error.instance!r}"
    return f"{where}{error.message}"
