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
    brands: tuple[BrandMatch, ...] | None = None,
    probability: float | None = 0.9,
    severity: int | None = 2,
    brand_account: str | None = None,
    **overrides: Any,
) -> ClassifiedMention:
    m = parse(mention_bytes(**overrides))
    if m.kind == "repost" or brand_account is not None:
        probability, severity = None, None
    return ClassifiedMention(
        mention=m,
        # By default a root names Acme and a response names nothing of its own.
        brands=brands if brands is not None else ((BrandMatch("Acme", True, ("@AcmeCustServ",)),) if m.is_root else ()),
        complaint_probability=probability,
        complaint_severity=severity,
        model_version="test" if probability is not None else None,
        brand_account=brand_account,
    )


_COMPLAINT_TEXTS = [
    "@AcmeCustServ my widget has been broken for {n} days, disgusting!",
    "@NorthwindAir lost my luggage again, {n} hours on hold and nobody cares",
    "@UmbrellaBank still no refund after {n} weeks. Useless.",
]
_OTHER_TEXTS = [
    "@AcmeCustServ thanks for the quick replacement, {n} stars!",
    "@NorthwindAir what time does gate {n} open?",
    "Beautiful sunset over the bay tonight, {n} photos",
]


def complaints_csv_text(rows: int = 24) -> str:
    """A tiny labelled set with every column the real complaints CSV has."""
    import csv
    import io

    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["id", "text", "label", "domain", "severity", "sentiment", "emotion"])
    for i in range(rows):
        complaint = i % 2 == 0
        texts = _COMPLAINT_TEXTS if complaint else _OTHER_TEXTS
        text = texts[(i // 2) % len(texts)].format(n=i)
        severity = 1 + (i // 2) % 4 if complaint else 0
        sentiment = "negative" if complaint else ("positive", "neutral")[(i // 2) % 2]
        emotion = ("anger", "sadness", "disgust")[(i // 2) % 3] if complaint else ("joy", "other", "")[(i // 2) % 3]
        w.writerow([i, text, int(complaint), "electronics", severity, sentiment, emotion])
    return out.getvalue()


def cascade_events(reposts: int, seed: int = 0, root_followers: float = 5_000.0) -> tuple[Any, Any]:
    """(times, followers) of a cascade: the post at 0, then ``reposts`` reaction times
    drawn from SEISMIC's kernel (flat for 5 minutes, then a power-law tail) and
    log-normal follower counts."""
    import numpy as np

    from pipeline.reach import seismic

    rng = np.random.default_rng(seed)
    flat = seismic.C * seismic.S0
    u = rng.random(reposts)
    # Inverse of the kernel's CDF: uniform on [0, s0] with mass c*s0, then the tail.
    tail = seismic.S0 * (((1 - u) / (1 - flat)) ** (-1 / seismic.THETA))
    times = np.where(u < flat, u / seismic.C, np.minimum(tail, 30 * 86_400.0))
    followers = np.round(rng.lognormal(5.0, 1.5, reposts))
    order = np.argsort(times)
    return np.concatenate([[0.0], times[order]]), np.concatenate([[root_followers], followers[order]])


def small_cascade_events(seed: int) -> tuple[Any, Any]:
    """(times, followers) of the kind of cascade almost every complaint makes: a burst
    of a few reposts within minutes, sometimes another burst hours later, then
    silence; heavy-tailed follower counts."""
    import numpy as np

    rng = np.random.default_rng(seed)
    times: list[float] = [0.0]
    start = 0.0
    for burst in range(1 + int(rng.random() < 0.3)):
        if burst:
            start = float(rng.uniform(3, 30)) * 3600.0
        times += sorted(start + rng.exponential(300.0, 1 + int(rng.geometric(0.5)) - 1))
    followers = np.round(rng.lognormal(6.0, 2.0, len(times)))
    return np.array(times), followers


def cascade_csv_text(cascades: dict[str, tuple[Any, Any]]) -> str:
    lines = ["cascade_id,relative_time_second,number_of_followers"]
    for cid, (times, followers) in cascades.items():
        lines += [f"{cid},{t:.1f},{n:.0f}" for t, n in zip(times, followers, strict=True)]
    return "\n".join(lines) + "\n"


def assert_valid_escalation(event: dict[str, Any]) -> None:
    """The event meets pipeline/schemas/escalation.v1.json (the consumers' contract)."""
    import jsonschema

    from pipeline import schemas
    from pipeline.escalation import SCHEMA_RESOURCE

    validator = jsonschema.Draft202012Validator(
        schemas.load(SCHEMA_RESOURCE), format_checker=jsonschema.FormatChecker()
    )
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(event)]
    assert not errors, errors
