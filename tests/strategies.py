"""Hypothesis strategies: the malformed and strange messages integrators will send.

Each strategy yields raw message bytes, as they arrive from Kafka. Some are valid
mentions with odd content (unicode edge cases, far-off timestamps, huge numbers);
most break the contract in one of the ways listed in the issue of record (7.4).
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

from tests.factories import mention_doc


def dumps(value: Any) -> bytes:
    # The stdlib, not orjson: generated integers go past 64 bits, as an integrator's may.
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "surrogatepass")


FIELDS = ("id", "platform", "kind", "text", "created_at", "author", "parent_id", "root_id", "lang", "url")
AUTHOR_FIELDS = ("id", "handle", "followers", "verified")

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=50),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5),
    max_leaves=20,
)
strange_text = st.one_of(
    st.text(max_size=300),
    # Zero-width, bidi overrides, combining marks, emoji with modifiers, NUL, BOM.
    st.sampled_from(
        [
            "\u200b\u200c\u200d@AcmeCustServ\u2060",
            "\u202e!nekorb si tegdiw ym @AcmeCustServ",
            "A\u0301\u0302\u0303\u0304" * 200,
            "\U0001f469\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466 #Acme \U0001f621\U0001f3fd",
            "nul\x00byte @AcmeCustServ",
            "\ufeffbom #Acme",
            "\U0010ffff\ue000 private use",
        ]
    ),
)
far_times = st.sampled_from(
    [
        "0001-01-01T00:00:00Z",
        "1970-01-01T00:00:00Z",
        "1969-12-31T23:59:59Z",
        "9999-12-31T23:59:59Z",
        "2026-11-22T23:59:60Z",
        "2026-02-30T12:00:00Z",
        "2026-11-22T14:00:00+14:00",
        "2026-11-22T14:00:00-12:00",
        "2026-11-22T14:00:00.123456789Z",
        "2026-11-22",
        "20261122T140000Z",
        "+10000-01-01T00:00:00Z",
        "yesterday",
    ]
)


@st.composite
def valid_but_strange(draw: st.DrawFn) -> bytes:
    """Valid by the schema, odd in content: the worker must process these."""
    doc = mention_doc(
        text=draw(strange_text),
        created_at=draw(far_times),
        author={
            "followers": draw(st.integers(min_value=0, max_value=10_000_000_000)),
            "handle": draw(st.text(min_size=1, max_size=100)),
        },
    )
    kind = draw(st.sampled_from(["post", "reply", "quote", "repost"]))
    doc["kind"] = kind
    if kind != "post":
        doc["parent_id"] = draw(st.text(min_size=1, max_size=200))
        if draw(st.booleans()):
            doc["root_id"] = draw(st.text(min_size=1, max_size=200))
    doc["id"] = draw(st.text(min_size=1, max_size=200))
    return dumps(doc)


@st.composite
def wrong_field(draw: st.DrawFn) -> bytes:
    """A valid mention with one field replaced by any JSON value, or removed, or null."""
    doc: dict[str, Any] = mention_doc()
    field = draw(st.sampled_from(FIELDS + tuple(f"author.{f}" for f in AUTHOR_FIELDS)))
    action = draw(st.sampled_from(["replace", "remove", "null"]))
    target, key = (doc["author"], field.split(".", 1)[1]) if field.startswith("author.") else (doc, field)
    if action == "remove":
        target.pop(key, None)
    else:
        target[key] = None if action == "null" else draw(json_values)
    return dumps(doc)


@st.composite
def truncated(draw: st.DrawFn) -> bytes:
    # Fixed ids: the factory's counter changes the length, and a length that differs
    # between a test case and its replay makes Hypothesis refuse the strategy.
    ids = {"id": "1", "author": {"id": "a1", "handle": "user1"}, "url": "https://twitter.example/s/1"}
    raw = dumps(mention_doc(text=draw(strange_text), **ids))
    return raw[: draw(st.integers(min_value=0, max_value=len(raw) - 1))]


@st.composite
def huge(draw: st.DrawFn) -> bytes:
    size = draw(st.sampled_from([10_000, 10_001, 100_000, 1_000_000]))
    field = draw(st.sampled_from(["text", "id", "url", "lang", "extra"]))
    return dumps(mention_doc(**{field: "x" * size}))


@st.composite
def deeply_nested(draw: st.DrawFn) -> bytes:
    depth = draw(st.integers(min_value=100, max_value=5_000))
    field = draw(st.sampled_from(["text", "author", "extra", "followers"]))
    nested = b"[" * depth + b"1" + b"]" * depth
    doc = mention_doc()
    if field != "followers":
        doc[field] = "PLACEHOLDER"
    raw = dumps(doc)
    if field == "followers":
        return raw.replace(b'"followers":1200', b'"followers":' + nested)
    return raw.replace(b'"PLACEHOLDER"', nested)


@st.composite
def number_edge_cases(draw: st.DrawFn) -> bytes:
    value = draw(
        st.sampled_from(
            [
                b"NaN",
                b"Infinity",
                b"-Infinity",
                b"1e999",
                b"-0",
                b"1.0",
                b"1e2",
                b"10000000001",
                b"9223372036854775807",
                b"18446744073709551616",
                b"-1",
            ]
        )
    )
    return dumps(mention_doc()).replace(b'"followers":1200', b'"followers":' + value)


@st.composite
def duplicate_keys(draw: st.DrawFn) -> bytes:
    raw = dumps(mention_doc())
    key = draw(st.sampled_from(["id", "kind", "text", "created_at", "author"]))
    value = dumps(draw(json_values))
    return raw[:-1] + b',"' + key.encode() + b'":' + value + b"}"


@st.composite
def broken_encoding(draw: st.DrawFn) -> bytes:
    raw = dumps(mention_doc(text="broken \u00e9 text @AcmeCustServ"))
    junk = draw(st.sampled_from([b"\xff\xfe", b"\xc3", b"\xed\xa0\x80", b"\x00", b"\\ud800"]))
    return raw.replace("\u00e9".encode(), junk)


malformed_or_strange = st.one_of(
    st.binary(max_size=500),
    st.builds(dumps, json_values),
    valid_but_strange(),
    wrong_field(),
    truncated(),
    huge(),
    deeply_nested(),
    number_edge_cases(),
    duplicate_keys(),
    broken_encoding(),
)
