"""``flashpoint board``: a read-only web page of the escalations that are still open.

It follows the escalations topic from the beginning and keeps the latest event of
each dedup key. The page lists those not resolved and not false positives: severity,
brand, author, reach now and forecast, age, status. It refreshes itself every few
seconds from ``/escalations.json``. Every value is escaped, and the page exposes
nothing but those fields: no tables, no settings, no Kafka offsets.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pipeline.escalation import LEVELS

CLOSED = ("resolved", "false_positive")


@dataclass
class Board:
    latest: dict[str, dict[str, Any]] = field(default_factory=dict)

    def apply(self, event: Any) -> None:
        d = event.get("data") if isinstance(event, dict) else None
        if not isinstance(d, dict):
            return
        key = d.get("dedup_key")
        if isinstance(key, str) and d.get("severity") in LEVELS:
            self.latest[key] = event

    def rows(self, now: datetime) -> list[dict[str, Any]]:
        """Open escalations, most severe first, then oldest first: plain values only."""
        out = []
        for event in self.latest.values():
            d = event["data"]
            if d.get("status", "open") in CLOSED:
                continue
            root = d.get("root_post") or {}
            opened = _parse(d.get("first_event_at")) or _parse(event.get("time")) or now
            forecast = d.get("forecast") or {}
            pile = d.get("pile_on") or {}
            out.append(
                {
                    "dedup_key": d["dedup_key"],
                    "severity": d["severity"],
                    "status": d.get("status", "open"),
                    "brand": d.get("brand", ""),
                    "who": f"{pile['authors']} customers (pile-on)" if pile else f"@{root.get('author_handle', '')}",
                    "followers": root.get("author_followers") if not pile else None,
                    "reach": (d.get("reach") or {}).get("potential"),
                    "forecast": forecast.get("potential_reach"),
                    "age_minutes": max(0, int((now - opened).total_seconds() // 60)),
                    "text": root.get("text", ""),
                    "url": root.get("url"),
                }
            )
        out.sort(key=lambda r: (-LEVELS.index(r["severity"]), -r["age_minutes"]))
        return out


def _parse(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def render(rows: list[dict[str, Any]]) -> str:
    """The table body; every value escaped."""
    e = html.escape

    def num(v: Any) -> str:
        return f"{v:,}" if isinstance(v, int) else "-"

    lines = []
    for r in rows:
        link = (
            f'<a href="{e(r["url"], quote=True)}" rel="noopener noreferrer">post</a>'
            if isinstance(r["url"], str) and r["url"].startswith(("https://", "http://"))
            else ""
        )
        lines.append(
            f'<tr class="sev-{e(r["severity"])}" data-key="{e(r["dedup_key"], quote=True)}">'
            f"<td>{e(r['severity'])}</td><td>{e(r['status'])}</td><td>{e(r['brand'])}</td>"
            f"<td>{e(r['who'])}</td><td>{num(r['followers'])}</td><td>{num(r['reach'])}</td>"
            f"<td>{num(r['forecast'])}</td><td>{r['age_minutes']} min</td>"
            f'<td class="text">{e(r["text"])}</td><td>{link}</td></tr>'
        )
    return "\n".join(lines) or '<tr><td colspan="10">No open escalations.</td></tr>'


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'self'; script-src 'self'; style-src 'unsafe-inline'">
<title>Flashpoint: open escalations</title>
<style>
body { font-family: system-ui, sans-serif; margin: 1.5rem; }
table { border-collapse: collapse; width: 100%; }
th, td { border-bottom: 1px solid #ddd; padding: .35rem .5rem; text-align: left; vertical-align: top; }
td.text { max-width: 40rem; }
.sev-critical td:first-child { background: #b00020; color: white; font-weight: bold; }
.sev-error td:first-child { background: #e53935; color: white; }
.sev-warning td:first-child { background: #fbc02d; }
.sev-info td:first-child { background: #90caf9; }
</style></head>
<body><h1>Open escalations</h1>
<p id="updated">Updated <span id="at"></span>; refreshes every few seconds.</p>
<table><thead><tr><th>severity</th><th>status</th><th>brand</th><th>author</th><th>followers</th>
<th>reach now</th><th>forecast</th><th>age</th><th>post</th><th></th></tr></thead>
<tbody id="rows">__ROWS__</tbody></table>
<script src="board.js"></script>
</body></html>
"""

# Served as a file, so the page's Content-Security-Policy can forbid inline scripts.
SCRIPT = """
async function refresh() {
  try {
    const r = await fetch('rows.html', {cache: 'no-store'});
    if (r.ok) {
      document.getElementById('rows').innerHTML = await r.text();
      document.getElementById('at').textContent = new Date().toLocaleTimeString();
    }
  } catch (e) {}
}
refresh();
setInterval(refresh, 2000);
"""


def web_app(board: Board) -> Any:
    from aiohttp import web

    headers = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"}

    async def page(_: web.Request) -> web.Response:
        body = PAGE.replace("__ROWS__", render(board.rows(datetime.now(UTC))))
        return web.Response(text=body, content_type="text/html", headers=headers)

    async def rows(_: web.Request) -> web.Response:
        return web.Response(text=render(board.rows(datetime.now(UTC))), content_type="text/html", headers=headers)

    async def script(_: web.Request) -> web.Response:
        return web.Response(text=SCRIPT, content_type="application/javascript", headers=headers)

    async def items(_: web.Request) -> web.Response:
        return web.json_response(board.rows(datetime.now(UTC)), headers=headers)

    app = web.Application()
    app.router.add_get("/", page)
    app.router.add_get("/rows.html", rows)
    app.router.add_get("/board.js", script)
    app.router.add_get("/escalations.json", items)
    return app


async def serve(bootstrap_servers: str, topic: str, host: str, port: int, stop: asyncio.Event, **client: Any) -> None:
    """Follow ``topic`` into the board and serve it until ``stop`` is set."""
    import orjson
    from aiohttp import web

    from pipeline.ops import follow

    board = Board()

    def take(_topic: str, value: bytes | None, _headers: list[tuple[str, bytes]]) -> None:
        # Not JSON: not an escalation, nothing to show.
        with contextlib.suppress(orjson.JSONDecodeError):
            board.apply(orjson.loads(value or b""))

    runner = web.AppRunner(web_app(board))
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    try:
        await follow(bootstrap_servers, [topic], take, stop, from_beginning=True, **client)
    finally:
        await runner.cleanup()
