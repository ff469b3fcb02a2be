"""``flashpoint board``: a web page of the escalations, live, for the care team.

It follows the escalations topic from the beginning and keeps the latest event of
each dedup key. The page lists them with severity, status, brand, author, reach now
and forecast, when the post was written, how long ago the escalation opened (in human
units), the post, and the reasons, with the brand's topic and the team that owns it.
Filters (brand, team, least severity, status, words), and a sort order, are query
parameters, so a filtered view is a link to share. The table refreshes itself every
few seconds from ``rows.html`` with the same query.

Read-only unless started with a token (``FLASHPOINT_BOARD_TOKEN``). With one, a
person signs in with the token and their name; each row then has acknowledge,
resolve and false-positive buttons that write a :class:`~pipeline.records.Feedback`
to ``escalations.feedback`` naming that person. The buttons change state, so:

- the session is a signed cookie (HMAC of the name with the token), ``HttpOnly`` and
  ``SameSite=Strict``, so another site's page cannot send it;
- each form carries a CSRF token derived from the session, and a request whose
  ``Origin`` is another site is refused;
- without a token the sign-in and feedback endpoints answer 404 and no button is drawn.

Every value is escaped; the Content-Security-Policy forbids inline scripts; the page
exposes nothing but the escalations' fields.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import html
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

from pipeline.escalation import LEVELS
from pipeline.kafka_admin import start_clients

CLOSED = ("resolved", "false_positive")
STATUSES = ("active", "open", "acknowledged", "resolved", "false_positive", "all")
SORTS = ("severity", "newest", "oldest", "reach")
ACTIONS = {"acknowledge": "Acknowledge", "resolve": "Resolve", "false_positive": "False positive"}
COLUMNS = 10


@dataclass(frozen=True)
class View:
    """What the person asked to see (the page's query parameters, checked)."""

    brand: str = ""
    team: str = ""
    severity: str = "info"
    status: str = "active"
    sort: str = "severity"
    q: str = ""

    @classmethod
    def of(cls, query: Mapping[str, str]) -> View:
        def pick(name: str, allowed: tuple[str, ...], default: str) -> str:
            value = query.get(name, default)
            return value if value in allowed else default

        return cls(
            brand=query.get("brand", "").strip()[:100],
            team=query.get("team", "").strip()[:100],
            severity=pick("severity", LEVELS, "info"),
            status=pick("status", STATUSES, "active"),
            sort=pick("sort", SORTS, "severity"),
            q=query.get("q", "").strip()[:200],
        )

    def query(self) -> str:
        return urlencode({k: v for k, v in self.__dict__.items() if v})


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

    def brands(self) -> list[str]:
        return sorted({str(e["data"].get("brand", "")) for e in self.latest.values()})

    def teams(self) -> list[str]:
        return sorted({str(t) for e in self.latest.values() if (t := e["data"].get("team"))})

    def rows(self, now: datetime, view: View | None = None) -> list[dict[str, Any]]:
        """The escalations ``view`` selects, in its order: plain values only. By
        default the active ones (open or acknowledged), most severe first, then oldest."""
        v = view or View()
        out = []
        for event in self.latest.values():
            d = event["data"]
            status = d.get("status", "open")
            if not _status_matches(status, v.status):
                continue
            if v.brand and str(d.get("brand", "")).lower() != v.brand.lower():
                continue
            if v.team and str(d.get("team") or "").lower() != v.team.lower():
                continue
            if LEVELS.index(d["severity"]) < LEVELS.index(v.severity):
                continue
            post = d.get("complaint_post") or d.get("root_post") or {}
            pile = d.get("pile_on") or {}
            reasons = [str(r) for r in d.get("reasons") or []]
            row = {
                "dedup_key": d["dedup_key"],
                "severity": d["severity"],
                "status": status,
                "brand": d.get("brand", ""),
                "topic": d.get("topic"),
                "team": d.get("team"),
                "who": f"{pile['authors']} customers (pile-on)" if pile else f"@{post.get('author_handle', '')}",
                "followers": post.get("author_followers") if not pile else None,
                "reach": (d.get("reach") or {}).get("potential"),
                "forecast": (d.get("forecast") or {}).get("potential_reach"),
                "posted_at": post.get("created_at"),
                "opened_at": d.get("first_event_at") or event.get("time"),
                "escalated_at": d.get("escalated_at") or event.get("time"),
                "age": _age(_parse(d.get("first_event_at")) or _parse(event.get("time")) or now, now),
                "text": post.get("text", ""),
                "url": post.get("url"),
                "reasons": reasons,
            }
            if v.q and not _contains(row, v.q):
                continue
            out.append(row)
        if v.sort == "newest":
            out.sort(key=lambda r: str(r["escalated_at"] or ""), reverse=True)
        elif v.sort == "oldest":
            out.sort(key=lambda r: str(r["opened_at"] or ""))
        elif v.sort == "reach":
            out.sort(key=lambda r: -(r["reach"] or 0))
        else:
            out.sort(key=lambda r: (-LEVELS.index(r["severity"]), str(r["opened_at"] or "")))
        return out


def _status_matches(status: str, wanted: str) -> bool:
    if wanted == "all":
        return True
    if wanted == "active":
        return status not in CLOSED
    return status == wanted


def _contains(row: dict[str, Any], q: str) -> bool:
    words = q.lower().split()
    hay = " ".join(str(row[k]) for k in ("text", "who", "brand", "dedup_key")).lower() + " " + " ".join(row["reasons"])
    hay = hay.lower()
    return all(w in hay for w in words)


def _parse(value: Any) -> datetime | None:
    try:
        t = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None
    return t.replace(tzinfo=UTC) if t is not None and t.tzinfo is None else t


def _age(since: datetime, now: datetime) -> str:
    """How long ago, in the unit a person would say."""
    seconds = max(0.0, (now - since).total_seconds())
    minutes = seconds / 60
    if minutes < 1:
        return "just now"
    if minutes < 90:
        return f"{minutes:.0f} min"
    hours = minutes / 60
    if hours < 48:
        return f"{hours:.0f} h"
    days = hours / 24
    if days < 60:
        return f"{days:.0f} days"
    if days < 730:
        return f"{days / 30.44:.0f} months"
    return f"{days / 365.25:.0f} years"


def _date(value: Any) -> str:
    t = _parse(value)
    return t.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if t else "-"


# -- sessions ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Access:
    """Who may press the buttons: nobody without a token."""

    token: str = ""

    @property
    def enabled(self) -> bool:
        return bool(self.token)

    def _sign(self, purpose: str, value: str) -> str:
        return hmac.new(self.token.encode(), f"{purpose}:{value}".encode(), hashlib.sha256).hexdigest()

    def session(self, name: str) -> str:
        return f"{name.encode().hex()}.{self._sign('session', name)}"

    def who(self, cookie: str | None) -> str | None:
        """The signed-in name a session cookie carries, or None."""
        if not self.enabled or not cookie or "." not in cookie:
            return None
        raw, sig = cookie.rsplit(".", 1)
        try:
            name = bytes.fromhex(raw).decode()
        except ValueError:
            return None
        return name if hmac.compare_digest(sig, self._sign("session", name)) else None

    def csrf(self, cookie: str) -> str:
        return self._sign("csrf", cookie)

    def token_ok(self, given: str) -> bool:
        return self.enabled and hmac.compare_digest(given.encode(), self.token.encode())


COOKIE = "flashpoint_board"
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'unsafe-inline'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


def render(rows: list[dict[str, Any]], csrf: str | None = None) -> str:
    """The table body; every value escaped. ``csrf``: draw the buttons (signed in)."""
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
        reasons = "".join(f"<li>{e(x)}</li>" for x in r["reasons"])
        route = ""
        if r["topic"]:
            route = f'<br><small class="route">{e(str(r["topic"]))}' + (
                f" &rarr; {e(str(r['team']))}</small>" if r["team"] else "</small>"
            )
        buttons = ""
        if csrf is not None and r["status"] not in CLOSED:
            buttons = (
                '<form method="post" action="feedback" class="act">'
                f'<input type="hidden" name="csrf" value="{e(csrf, quote=True)}">'
                f'<input type="hidden" name="dedup_key" value="{e(r["dedup_key"], quote=True)}">'
                + "".join(
                    f'<button type="submit" name="action" value="{a}">{label}</button>'
                    for a, label in ACTIONS.items()
                    if not (a == "acknowledge" and r["status"] == "acknowledged")
                )
                + "</form>"
            )
        lines.append(
            f'<tr class="sev-{e(r["severity"])}" data-key="{e(r["dedup_key"], quote=True)}">'
            f"<td>{e(r['severity'])}</td><td>{e(r['status'])}</td><td>{e(r['brand'])}{route}</td>"
            f"<td>{e(r['who'])}<br><small>{num(r['followers'])} followers</small></td>"
            f"<td>{num(r['reach'])}</td><td>{num(r['forecast'])}</td>"
            f'<td><span class="age">{e(r["age"])}</span><br><small>posted {e(_date(r["posted_at"]))}</small></td>'
            f'<td class="text">{e(r["text"])} {link}<details><summary>why</summary><ul>{reasons}</ul></details></td>'
            f'<td class="key"><small>{e(r["dedup_key"])}</small></td><td>{buttons}</td></tr>'
        )
    return "\n".join(lines) or f'<tr><td colspan="{COLUMNS}">No escalations match.</td></tr>'


def controls(view: View, brands: list[str], teams: Sequence[str] = ()) -> str:
    """The filter and sort form (GET: a filtered view is a link)."""
    e = html.escape

    def select(name: str, options: list[tuple[str, str]], chosen: str) -> str:
        opts = "".join(
            f'<option value="{e(v, quote=True)}"{" selected" if v == chosen else ""}>{e(label)}</option>'
            for v, label in options
        )
        return f'<label>{name} <select name="{name}">{opts}</select></label>'

    return (
        '<form method="get" action="./" id="filters">'
        + select("brand", [("", "all brands")] + [(b, b) for b in brands], view.brand)
        + select("team", [("", "all teams")] + [(t, t) for t in teams], view.team)
        + select("severity", [(x, f"{x} and up") for x in LEVELS], view.severity)
        + select("status", [(x, x.replace("_", " ")) for x in STATUSES], view.status)
        + select("sort", [(x, x) for x in SORTS], view.sort)
        + f'<label>search <input type="search" name="q" value="{e(view.q, quote=True)}"></label>'
        + '<button type="submit">Apply</button></form>'
    )


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'self'; script-src 'self'; style-src 'unsafe-inline'">
<title>Flashpoint: escalations</title>
<style>
body { font-family: system-ui, sans-serif; margin: 1.5rem; }
table { border-collapse: collapse; width: 100%; }
th, td { border-bottom: 1px solid #ddd; padding: .35rem .5rem; text-align: left; vertical-align: top; }
td.text { max-width: 36rem; }
td.key { max-width: 12rem; word-break: break-all; color: #555; }
form#filters label { margin-right: .8rem; }
form.act button { display: block; margin-bottom: .2rem; }
.sev-critical td:first-child { background: #b00020; color: white; font-weight: bold; }
.sev-error td:first-child { background: #e53935; color: white; }
.sev-warning td:first-child { background: #fbc02d; }
.sev-info td:first-child { background: #90caf9; }
</style></head>
<body><h1>Escalations</h1>
<p id="who">__WHO__</p>
__CONTROLS__
<p id="updated">Updated <span id="at"></span>; refreshes every few seconds.</p>
<table><thead><tr><th>severity</th><th>status</th><th>brand, topic &rarr; team</th><th>author</th>
<th>reach now</th><th>forecast</th><th>opened</th><th>post and why</th><th>key</th><th></th></tr></thead>
<tbody id="rows">__ROWS__</tbody></table>
<script src="board.js"></script>
</body></html>
"""

LOGIN = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'self'; style-src 'unsafe-inline'">
<title>Flashpoint: sign in</title></head>
<body><h1>Sign in to act on escalations</h1>
<p>__MESSAGE__</p>
<form method="post" action="login">
<label>Your name (feedback names you) <input name="name" required maxlength="100"></label><br>
<label>Board token <input name="token" type="password" required></label><br>
<button type="submit">Sign in</button></form>
<p><a href="./">Back to the board (read-only)</a></p>
</body></html>
"""

# Served as a file, so the page's Content-Security-Policy can forbid inline scripts.
# Rows are replaced only when they changed: a button replaced under someone's pointer
# loses their click.
SCRIPT = """
let shown = null;
async function refresh() {
  try {
    const r = await fetch('rows.html' + window.location.search, {cache: 'no-store'});
    if (r.ok) {
      const html = await r.text();
      if (html !== shown) {
        document.getElementById('rows').innerHTML = html;
        shown = html;
      }
      document.getElementById('at').textContent = new Date().toLocaleTimeString();
    }
  } catch (e) {}
}
refresh();
setInterval(refresh, 2000);
"""

Send = Callable[[str, str, str], Awaitable[None]]  # (dedup_key, action, by)


def web_app(board: Board, access: Access | None = None, send: Send | None = None) -> Any:
    from aiohttp import web

    access = access or Access()
    headers = {
        # Also as a header: frame-ancestors and form-action count only there.
        "Content-Security-Policy": CSP,
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "no-store",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "same-origin",
    }

    def signed_in(request: web.Request) -> tuple[str, str] | None:
        """(name, session cookie) of a signed-in person."""
        cookie = request.cookies.get(COOKIE)
        name = access.who(cookie)
        return (name, cookie) if name and cookie else None

    def who_line(request: web.Request) -> str:
        if not access.enabled:
            return "Read-only board."
        s = signed_in(request)
        if s is None:
            return 'Read-only. <a href="login">Sign in</a> to acknowledge, resolve or mark false positives.'
        return f"Signed in as <b>{html.escape(s[0])}</b>. Your feedback goes to the escalations.feedback topic."

    def body_rows(request: web.Request) -> str:
        s = signed_in(request)
        csrf = access.csrf(s[1]) if s else None
        return render(board.rows(datetime.now(UTC), View.of(request.query)), csrf)

    async def page(request: web.Request) -> web.Response:
        view = View.of(request.query)
        body = (
            PAGE.replace("__WHO__", who_line(request))
            .replace("__CONTROLS__", controls(view, board.brands(), board.teams()))
            .replace("__ROWS__", body_rows(request))
        )
        return web.Response(text=body, content_type="text/html", headers=headers)

    async def rows(request: web.Request) -> web.Response:
        return web.Response(text=body_rows(request), content_type="text/html", headers=headers)

    async def script(_: web.Request) -> web.Response:
        return web.Response(text=SCRIPT, content_type="application/javascript", headers=headers)

    async def items(request: web.Request) -> web.Response:
        return web.json_response(board.rows(datetime.now(UTC), View.of(request.query)), headers=headers)

    def same_origin(request: web.Request) -> bool:
        """Refuses a request another site's page made (Origin, else Referer, names
        another host); a request that names none (curl) is judged by its CSRF token."""
        origin = request.headers.get("Origin") or request.headers.get("Referer")
        if not origin or origin == "null":
            return origin != "null"
        return urlsplit(origin).netloc == request.host

    async def login_form(_: web.Request) -> web.Response:
        if not access.enabled:
            raise web.HTTPNotFound()
        return web.Response(text=LOGIN.replace("__MESSAGE__", ""), content_type="text/html", headers=headers)

    async def login(request: web.Request) -> web.Response:
        if not access.enabled:
            raise web.HTTPNotFound()
        if not same_origin(request):
            raise web.HTTPForbidden(text="refused: the request came from another site")
        form = await request.post()
        name = " ".join(str(form.get("name", "")).split())[:100]
        if not name or not access.token_ok(str(form.get("token", ""))):
            text = LOGIN.replace("__MESSAGE__", "Wrong token, or no name.")
            return web.Response(status=403, text=text, content_type="text/html", headers=headers)
        response = web.Response(status=303, headers={**headers, "Location": "./"})
        response.set_cookie(COOKIE, access.session(name), httponly=True, samesite="Strict", path="/")
        return response

    async def feedback(request: web.Request) -> web.Response:
        if not access.enabled or send is None:
            raise web.HTTPNotFound()
        s = signed_in(request)
        if s is None:
            raise web.HTTPForbidden(text="refused: sign in first")
        form = await request.post()
        if not same_origin(request) or not hmac.compare_digest(str(form.get("csrf", "")), access.csrf(s[1])):
            raise web.HTTPForbidden(text="refused: the request did not come from this board")
        key, action = str(form.get("dedup_key", "")), str(form.get("action", ""))
        if key not in board.latest or action not in ACTIONS:
            raise web.HTTPBadRequest(text="refused: unknown escalation or action")
        await send(key, action, s[0])
        back = "./" + (("?" + request.query_string) if request.query_string else "")
        return web.Response(status=303, headers={**headers, "Location": back})

    app = web.Application()
    app.router.add_get("/", page)
    app.router.add_get("/rows.html", rows)
    app.router.add_get("/board.js", script)
    app.router.add_get("/escalations.json", items)
    app.router.add_get("/login", login_form)
    app.router.add_post("/login", login)
    app.router.add_post("/feedback", feedback)
    return app


async def serve(
    bootstrap_servers: str,
    topic: str,
    host: str,
    port: int,
    stop: asyncio.Event,
    token: str = "",
    feedback_topic: str = "escalations.feedback",
    **client: Any,
) -> None:
    """Follow ``topic`` into the board and serve it until ``stop`` is set; with a
    ``token``, buttons write feedback to ``feedback_topic``."""
    import orjson
    from aiohttp import web
    from aiokafka import AIOKafkaProducer

    from pipeline.escalation.feedback import parse
    from pipeline.ops import follow

    board = Board()

    def take(_topic: str, value: bytes | None, _headers: list[tuple[str, bytes]]) -> None:
        # Not JSON: not an escalation, nothing to show.
        with contextlib.suppress(orjson.JSONDecodeError):
            board.apply(orjson.loads(value or b""))

    producer = None
    if token:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers, acks="all", **client)
        await start_clients(producer)

    async def send(key: str, action: str, by: str) -> None:
        assert producer is not None
        doc = {"dedup_key": key, "action": action, "by": by, "at": datetime.now(UTC).isoformat()}
        value = orjson.dumps(doc)
        parse(value)  # the contract the worker checks
        await producer.send_and_wait(feedback_topic, value, key=key.encode())

    runner = web.AppRunner(web_app(board, Access(token), send if token else None))
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    try:
        await follow(bootstrap_servers, [topic], take, stop, from_beginning=True, **client)
    finally:
        await runner.cleanup()
        if producer is not None:
            await producer.stop()
