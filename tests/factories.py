"""Test data factories: a valid mention by default, any field overridden by keyword."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from pipeline.mention import parse
from pipeline.records import BrandMatch, ClassifiedMention

_ids = itertools.count(1000)
T0 = datetime(2026, 11, 22, 14, 0, tzinfo=UTC)


def mention_doc(**overrides: Any) -> dict[str, Any]:
    n = next(_ids)
    doc: dict[str, Any] = {
        "id": str(n),
        "platform": "twitter",
        "kind": "post",
        "text": "@AcmeCustServ my widget has been broken for 5 days",
        "created_at": "2026-11-22T14:00:00Z",
        "author": {"id": f"a{n}", "handle": f"user{n}", "followers": 1200, "verified": False},
        "lang": "en",
        "url": f"https://twitter.example/s/{n}",
    }
    author = overrides.pop("author", None)
    doc.update(overrides)
    if author is not None:
        doc["author"] = {**doc["author"], **author}
    return {k: v for k, v in doc.items() if v is not ...}


def mention_bytes(**overrides: Any) -> bytes:
    return orjson.dumps(mention_doc(**overrides))


def at(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


def classified(
    *,
    brands: tuple[BrandMatch, ...] = (BrandMatch("Acme", True, ("@AcmeCustServ",)),),
    probability: float | None = 0.9,
    severity: int | None = 2,
    **overrides: Any,
) -> ClassifiedMention:
    m = parse(mention_bytes(**overrides))
    if m.kind == "repost":
        probability, severity = None, None
    return ClassifiedMention(
        mention=m,
        brands=brands if m.is_root else (),
        complaint_probability=probability,
        complaint_severity=severity,
        model_version="test" if probability is not None else None,
    )
