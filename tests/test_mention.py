from __future__ import annotations

import jsonschema
import orjson
import pytest

from pipeline.mention import InvalidMention, parse, schema
from pipeline.schemas import REASON_CODES
from tests.factories import mention_bytes, mention_doc


def test_valid_mention_parses_with_all_fields() -> None:
    m = parse(
        mention_bytes(id="1862", kind="reply", parent_id="1", root_id="0", author={"handle": "@alice", "followers": 5})
    )
    assert (m.id, m.kind, m.parent_id, m.root_id) == ("1862", "reply", "1", "0")
    assert m.author.handle == "alice"
    assert m.created_at.tzinfo is not None
    assert m.key == "twitter:1862"
    assert m.cascade_key == "twitter:0"


def test_unknown_extra_fields_are_ignored() -> None:
    assert parse(mention_bytes(extra_field={"a": 1})).id


BAD = [
    (b"{not json", "not valid JSON"),
    (b"", "empty message"),
    (b"[1, 2]", "expected a JSON object"),
    (mention_bytes(id=...), "missing required field 'id'"),
    (mention_bytes(text=42), "text: expected string"),
    (mention_bytes(kind="retweet"), "kind: 'retweet' is not one of post, reply, quote, repost"),
    (mention_bytes(author={"followers": -1}), "author.followers: must be >= 0"),
    (mention_bytes(author={"followers": 1.5}), "author.followers: expected integer"),
    (mention_bytes(author={"followers": 2**63 - 1}), "author.followers: must be <= 10,000,000,000"),
    (mention_bytes(text="x" * 10_001), "text: longer than 10000 characters"),
    (mention_bytes(created_at="next tuesday"), "created_at: 'next tuesday' is not an RFC 3339"),
    (mention_bytes(created_at="2026-11-22T14:00:00"), "has no time zone"),
    (mention_bytes(kind="repost"), "parent_id is required for a repost"),
    (mention_bytes(kind="reply", parent_id=None), "parent_id: expected string"),
    (mention_bytes(schema_version=2), "schema_version: this worker reads version 1"),
    (mention_bytes(platform="Not A Platform"), "platform:"),
]


@pytest.mark.parametrize(("raw", "reason"), BAD, ids=[r for _, r in BAD])
def test_invalid_messages_get_a_readable_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(InvalidMention) as exc:
        parse(raw)
    assert reason in str(exc.value)


# The bounded code metrics and alerts group by, for each of BAD in order.
CODES = [
    "not_json",
    "empty",
    "not_object",
    "missing_field",
    "wrong_type",
    "invalid_value",
    "invalid_value",
    "wrong_type",
    "invalid_value",
    "invalid_value",
    "bad_time",
    "bad_time",
    "missing_field",
    "wrong_type",
    "unsupported_version",
    "invalid_value",
]


@pytest.mark.parametrize(("raw", "code"), [(raw, code) for (raw, _), code in zip(BAD, CODES, strict=True)])
def test_invalid_messages_carry_a_bounded_reason_code(raw: bytes, code: str) -> None:
    with pytest.raises(InvalidMention) as exc:
        parse(raw)
    assert exc.value.code == code and code in REASON_CODES


@pytest.mark.parametrize(("raw", "reason"), BAD[3:], ids=[r for _, r in BAD[3:]])
def test_published_schema_rejects_the_same_objects(raw: bytes, reason: str) -> None:
    doc = orjson.loads(raw)
    validator = jsonschema.Draft202012Validator(schema())
    time_only = "RFC 3339" in reason or "time zone" in reason
    # The schema cannot express calendar validity; the worker checks time itself.
    assert validator.is_valid(doc) == time_only


def test_published_schema_accepts_the_readme_example() -> None:
    jsonschema.validate(mention_doc(), schema())


@pytest.mark.parametrize("depth", [33, 1000, 1023])
def test_deeply_nested_values_are_refused_before_they_reach_the_validator(depth: int) -> None:
    raw = mention_bytes(extra="PLACEHOLDER").replace(b'"PLACEHOLDER"', b"[" * depth + b"1" + b"]" * depth)
    with pytest.raises(InvalidMention, match="nested deeper than 32 levels") as exc:
        parse(raw)
    assert exc.value.code == "invalid_value"


def test_nesting_within_the_limit_in_an_extra_field_is_fine() -> None:
    assert parse(mention_bytes(extra={"a": [[[{"b": 1}]]]})).id


@pytest.mark.parametrize(
    "change",
    [
        {"schema_version": True},  # const 1: True == 1 in Python, not in JSON Schema
        {"schema_version": 1.0},
        {"platform": "twitter\n"},  # jsonschema's pattern lets "$" match before a final newline
        {"author": {"id": "u", "handle": "h", "followers": True}},
        {"author": {"id": "u", "handle": "h", "followers": 5.0}},
        {"author": {"id": "u", "handle": "h", "followers": 1, "verified": 1}},
        {"kind": "repost", "parent_id": None},
        {"kind": "reply", "parent_id": ""},
        {"text": "\U0001f621" * 10_000},
        {"text": "\U0001f621" * 10_001},
    ],
)
def test_the_compiled_check_and_jsonschema_give_the_same_verdict(change: dict[str, object]) -> None:
    doc = {**mention_doc(), **change}
    verdict = jsonschema.Draft202012Validator(schema()).is_valid(doc)
    try:
        parse(orjson.dumps(doc))
        parsed = True
    except InvalidMention:
        parsed = False
    assert parsed == verdict, doc
