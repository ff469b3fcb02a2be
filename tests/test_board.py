"""The board: which escalations it shows, in what order, that it escapes them, and
who may press its buttons."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pipeline.board import Access, Board, View, _age, render, web_app
from tests.test_ops import sample

NOW = datetime(2026, 11, 22, 16, 0, tzinfo=UTC)


def event(key: str, severity: str, status: str = "open", minutes_ago: int = 10, **data: Any) -> dict[str, Any]:
    ev = sample(severity)
    ev["data"].update(dedup_key=key, status=status, first_event_at=(NOW - timedelta(minutes=minutes_ago)).isoformat())
    ev["data"].update(data)
    return ev


def test_active_escalations_most_severe_then_oldest_first() -> None:
    b = Board()
    b.apply(event("A/1", "info", minutes_ago=90))
    b.apply(event("A/2", "critical", minutes_ago=5))
    b.apply(event("A/3", "warning", minutes_ago=30))
    b.apply(event("A/4", "warning", minutes_ago=60, status="acknowledged"))
    b.apply(event("A/5", "error", status="resolved"))
    b.apply(event("A/6", "error"))
    b.apply(event("A/6", "error", status="false_positive"))  # the latest word wins
    b.apply({"not": "an event"})
    b.apply(["nor", "this"])
    rows = b.rows(NOW)
    assert [r["dedup_key"] for r in rows] == ["A/2", "A/4", "A/3", "A/1"]
    assert rows[0]["age"] == "5 min" and rows[0]["reach"] == 12_300 and rows[0]["forecast"] > 12_300
    assert rows[3]["age"] == "2 h" and rows[0]["reasons"] and rows[0]["posted_at"]


def test_filters_sort_and_search() -> None:
    b = Board()
    b.apply(event("A/1", "info", minutes_ago=90))
    b.apply(event("A/2", "critical", minutes_ago=5, brand="Northwind Air"))
    b.apply(event("A/3", "warning", minutes_ago=30, status="resolved"))
    b.apply(event("A/4", "error", minutes_ago=60, status="acknowledged"))

    def keys(**query: str) -> list[str]:
        return [r["dedup_key"] for r in b.rows(NOW, View.of(query))]

    assert keys(brand="northwind air") == ["A/2"]
    assert keys(severity="error") == ["A/2", "A/4"]
    assert keys(status="resolved") == ["A/3"] and keys(status="acknowledged") == ["A/4"]
    assert sorted(keys(status="all")) == ["A/1", "A/2", "A/3", "A/4"]
    assert keys(sort="oldest") == ["A/1", "A/4", "A/2"]
    b.latest["A/1"]["data"]["reach"]["potential"] = 10**7
    assert keys(sort="reach")[0] == "A/1"
    b.latest["A/4"]["data"]["complaint_post"]["text"] = "the Gate 12 kiosk ate my passport"
    assert keys(q="KIOSK passport") == ["A/4"] and keys(q="kiosk nothing") == []
    assert View.of({"severity": "bogus", "sort": "<script>", "status": "x"}) == View()


@pytest.mark.parametrize(
    ("minutes", "said"),
    [
        (0.2, "just now"),
        (5, "5 min"),
        (89, "89 min"),
        (150, "2 h"),
        (47 * 60, "47 h"),
        (3 * 1440, "3 days"),
        (90 * 1440, "3 months"),
        (4783974, "9 years"),
    ],
)
def test_ages_read_in_human_units(minutes: float, said: str) -> None:
    assert _age(NOW - timedelta(minutes=minutes), NOW) == said


def test_everything_is_escaped_and_only_web_links_are_links() -> None:
    evil = '<img src=x onerror="alert(1)"> & "quotes"'
    b = Board()
    post = {**sample()["data"]["root_post"], "text": evil, "url": "javascript:alert(1)", "author_handle": "<b>x</b>"}
    reasons = ["<script>alert(2)</script>"]
    b.apply(event("A/<1>", "error", root_post=post, complaint_post=post, reasons=reasons))
    html = render(b.rows(NOW))
    assert "<img" not in html and "&lt;img src=x onerror=&quot;alert(1)&quot;&gt; &amp; &quot;quotes&quot;" in html
    assert "<b>" not in html and "javascript:" not in html and 'data-key="A/&lt;1&gt;"' in html
    assert "<script>" not in html and "&lt;script&gt;alert(2)" in html
    assert "<button" not in html, "no buttons without a session"
    assert "<button" in render(b.rows(NOW), csrf="c"), "buttons for a signed-in person"
    assert render([]) == '<tr><td colspan="10">No escalations match.</td></tr>'


class Sent:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str]] = []

    async def __call__(self, key: str, action: str, by: str) -> None:
        self.calls.append((key, action, by))


def client(b: Board, token: str = "", sent: Sent | None = None) -> Any:
    from aiohttp.test_utils import TestClient, TestServer

    return TestClient(TestServer(web_app(b, Access(token), sent)))


def test_the_page_serves_only_the_board_and_is_read_only_without_a_token() -> None:
    b = Board()
    b.apply(event("A/1", "warning"))

    async def go() -> None:
        async with client(b) as c:
            page = await c.get("/")
            body = await page.text()
            assert page.status == 200 and "Content-Security-Policy" in body and 'data-key="A/1"' in body
            assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
            assert page.headers["X-Content-Type-Options"] == "nosniff"
            assert '<button type="submit" name="action"' not in body and "Read-only board." in body
            rows = await (await c.get("/escalations.json?severity=warning")).json()
            assert [r["dedup_key"] for r in rows] == ["A/1"]
            for path in ("/tables", "/metrics", "/../settings", "/router", "/login"):
                assert (await c.get(path)).status == 404
            refused = await c.post("/feedback", data={"dedup_key": "A/1", "action": "resolve"})
            assert refused.status == 404

    asyncio.run(go())


def test_with_a_token_signed_in_people_act_and_forgeries_are_refused() -> None:
    b = Board()
    b.apply(event("A/1", "warning"))
    sent = Sent()

    async def go() -> None:
        async with client(b, "s3cret", sent) as c:
            assert (await c.post("/feedback", data={"dedup_key": "A/1", "action": "resolve"})).status == 403
            wrong = await c.post("/login", data={"name": "sam", "token": "guess"}, allow_redirects=False)
            assert wrong.status == 403 and "flashpoint_board" not in wrong.cookies
            ok = await c.post("/login", data={"name": "Sam Care", "token": "s3cret"}, allow_redirects=False)
            assert ok.status == 303 and "HttpOnly" in ok.headers["Set-Cookie"]
            assert "SameSite=Strict" in ok.headers["Set-Cookie"]
            page = await (await c.get("/")).text()
            assert "Signed in as <b>Sam Care</b>" in page
            (csrf,) = set(re.findall(r'name="csrf" value="([0-9a-f]+)"', page))
            # No CSRF token, a wrong one, or another site's Origin: refused, nothing sent.
            form = {"dedup_key": "A/1", "action": "resolve"}
            assert (await c.post("/feedback", data=form)).status == 403
            assert (await c.post("/feedback", data={**form, "csrf": "0" * 64})).status == 403
            foreign = {"Origin": "http://evil.example"}
            assert (await c.post("/feedback", data={**form, "csrf": csrf}, headers=foreign)).status == 403
            assert sent.calls == []
            bad = await c.post("/feedback", data={"dedup_key": "A/9", "action": "resolve", "csrf": csrf})
            assert bad.status == 400
            done = await c.post("/feedback", data={**form, "csrf": csrf}, allow_redirects=False)
            assert done.status == 303
            assert sent.calls == [("A/1", "resolve", "Sam Care")]
            # A cookie signed with another token is nobody.
            c.session.cookie_jar.clear()
            c.session.cookie_jar.update_cookies({"flashpoint_board": Access("other").session("Sam Care")})
            assert (await c.post("/feedback", data={**form, "csrf": csrf})).status == 403

    asyncio.run(go())


def test_the_board_shows_topic_and_team_and_filters_by_team() -> None:
    b = Board()
    b.apply(event("A/1", "error", topic="billing", team="billing-desk"))
    b.apply(event("A/2", "error", topic="outage", team="noc"))
    b.apply(event("A/3", "error", topic="other", team=None))
    assert b.teams() == ["billing-desk", "noc"]
    assert [r["dedup_key"] for r in b.rows(NOW, View.of({"team": "NOC"}))] == ["A/2"]
    assert len(b.rows(NOW, View.of({}))) == 3
    html = render(b.rows(NOW, View.of({"team": "billing-desk"})))
    assert '<small class="route">billing &rarr; billing-desk</small>' in html
    assert "team=noc" in View.of({"team": "noc"}).query()
