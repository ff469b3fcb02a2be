"""Ops' corrections as training data: the posts marked false positive on the feedback
topic, read from the corrections topic, become rows labelled 0 ("not a complaint")
beside the training CSV's own."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

DOMAIN = "corrections"


def merge(data_csv: Path, corrections: Iterable[Mapping[str, Any]], out: Path) -> int:
    """Write ``data_csv`` plus one row per corrected post (the latest word on a post
    wins; posts already in the file are left as they are) to ``out``; the number of
    rows added."""
    with open(data_csv, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        columns = list(reader.fieldnames or ())
        rows = list(reader)
    for needed in ("text", "label"):
        if needed not in columns:
            raise ValueError(f"{data_csv}: no column {needed!r}")
    known = {r["text"] for r in rows}
    latest: dict[tuple[str, str], Mapping[str, Any]] = {}
    for c in corrections:
        if c.get("label") == 0 and c.get("text"):
            latest[(str(c["platform"]), str(c["post_id"]))] = c
    added = 0
    for (platform, post_id), c in latest.items():
        if c["text"] in known:
            continue
        row = dict.fromkeys(columns, "")
        row.update({"text": c["text"], "label": "0"})
        if "id" in columns:
            row["id"] = f"{platform}:{post_id}"
        if "domain" in columns:
            row["domain"] = DOMAIN
        if "severity" in columns:
            row["severity"] = "0"  # not a complaint: the file's own non-complaints have 0
        rows.append(row)
        known.add(c["text"])
        added += 1
    with open(out, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return added


async def read_topic(
    bootstrap_servers: str, topic: str, idle_seconds: float = 3.0, **client: Any
) -> list[dict[str, Any]]:
    """Every correction on ``topic``, from the beginning until it has been quiet for
    ``idle_seconds``."""
    import orjson
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(
        topic,
        **client,
        bootstrap_servers=bootstrap_servers,
        group_id=None,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
    )
    await consumer.start()
    out: list[dict[str, Any]] = []
    try:
        while True:
            batch = await consumer.getmany(timeout_ms=int(idle_seconds * 1000))
            if not batch:
                return out
            for messages in batch.values():
                out.extend(orjson.loads(m.value) for m in messages if m.value)
    finally:
        await consumer.stop()
