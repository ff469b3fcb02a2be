"""The board: which escalations it shows, in what order, and that it escapes them."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from pipeline.board import Board, render, web_app
from tests.test_ops import sample

NOW = datetime(2026, 11, 22, 16, 0, tzinfo=UTC)


def event(key: str, severity: str, status: str = "open", minutes_ago: int = 10, **data: Any) -> dict[str, Any]:
    ev = sample(severity)
    ev["data"].update(dedup_key=key, status=status, first_event_at=(NOW - timedelta(minutes=minutes_ago)).isoformat())
    ev["data"].update(data)
    return ev


def test_open_escalations_most_severe_then_oldest_first() -> None:
    b = Board()
    b.apply(event("A/1", "info", minutes_ago=90))
    b.apply(event("A/2", "critical", minutes_ago=5))
    b.apply(event("A/3", "warning", minutes_ago=30))
    b.apply(event("A/4", "warning", minutes_ago=60))
    b.apply(event("A/5", "error", status="resolved"))
    b.apply(event("A/6", "error"))
    b.apply(event("A/6", "error", status="false_positive"))  # the latest word wins
    b.apply({"not": "an event"})
    b.apply(["nor", "this"])
    rows = b.rows(NOW)
    assert [r["dedup_key"] for r in rows] == ["A/2", "A/4", "A/3", "A/1"]
    assert rows[0]["age_minutes"] == 5 and rows[0]["reach"] == 12_300 and rows[0]["forecast"] > 12_300


def test_everything_is_escaped_and_only_web_links_are_links() -> None:
    evil = '<img src=x onerror="alert(1)"> & "quotes"'
    b = Board()
    root = {**sample()["data"]["root_post"], "text": evil, "url": "javascript:alert(1)", "author_handle": "<b>x</b>"}
    b.apply(event("A/<1>", "error", root_post=root))
    html = render(b.rows(NOW))
    assert "<img" not in html and "&lt;img src=x onerror=&quot;alert(1)&quot;&gt; &amp; &quot;quotes&quot;" in html
    assert "<b>" not in html and "javascript:" not in html and 'data-key="A/&lt;1&gt;"' in html
    assert render([]) == '<tr><td colspan="10">No open escalations.</td></tr>'


def test_the_page_serves_only_the_board() -> None:
    from aiohttp.test_utils import TestClient, TestServer

    b = Board()
    b.apply(event("A/1", "warning"))

    async def go() -> None:
        async with TestClient(TestServer(web_app(b))) as client:
            page = await client.get("/")
            body = await page.text()
            assert page.status == 200 and "Content-Security-Policy" in body and 'data-key="A/1"' in body
            assert page.headers["X-Content-Type-Options"] == "nosniff"
            rows = await (await client.get("/escalations.json")).json()
            assert [r["dedup_key"] for r in rows] == ["A/1"]
            for path in ("/tables", "/metrics", "/../settings", "/router"):
                assert (await client.get(path)).status == 404

    asyncio.run(go())
