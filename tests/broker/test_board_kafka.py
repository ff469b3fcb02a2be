"""The board end to end: a real Kafka, `flashpoint board`, and headless Chromium
(Debian's chromium and chromium-driver, driven by selenium)."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import orjson
import pytest

from pipeline.kafka_admin import ensure_topics
from pipeline.settings import Settings
from tests.broker.conftest import collect, free_port
from tests.broker.test_ops_kafka import cli_env, produce_keyed
from tests.conftest import need
from tests.test_ops import sample

pytestmark = pytest.mark.broker

EVIL = "<img src=x onerror=\"document.title='pwned'\"> my widget is broken"


def browser() -> object:
    need(bool(shutil.which("chromium") and shutil.which("chromedriver")), "chromium and chromedriver not installed")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or ""
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,700"):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(shutil.which("chromedriver") or ""), options=options)


def click_when_present(driver: object, selector: str, timeout: float) -> bool:
    """Click the first element matching `selector`, trying again while the board's
    live updates replace the rows under the finger (a stale element)."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = driver.find_elements(By.CSS_SELECTOR, selector)  # type: ignore[attr-defined]
        if found:
            try:
                found[0].click()
                return True
            except StaleElementReferenceException:
                pass
        time.sleep(0.3)
    return False


def test_an_escalation_appears_live_and_escaped(settings: Settings, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    s = settings
    asyncio.run(ensure_topics(s, [s.topic_escalations]))
    port = free_port()
    board = subprocess.Popen(
        [sys.executable, "-m", "pipeline", "board", "--port", str(port)],
        env=cli_env(s),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    driver: object = None
    try:
        url = f"http://127.0.0.1:{port}/"
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(url, timeout=2).read()
                break
            except OSError:
                assert time.monotonic() < deadline and board.poll() is None, "the board did not start"
                time.sleep(0.3)
        driver = browser()
        driver.get(url)  # type: ignore[attr-defined]
        assert "No escalations match." in driver.find_element(By.ID, "rows").text  # type: ignore[attr-defined]

        ev = sample("critical")
        ev["data"]["root_post"]["text"] = ev["data"]["complaint_post"]["text"] = EVIL
        resolved = sample("warning", brand="Northwind Air")
        resolved["data"].update(dedup_key="Northwind Air/twitter:9", status="resolved")
        asyncio.run(produce_keyed(s.bootstrap_servers, s.topic_escalations, [orjson.dumps(ev), orjson.dumps(resolved)]))

        deadline = time.monotonic() + 30
        rows: list[object] = []
        while time.monotonic() < deadline and not rows:
            rows = driver.find_elements(By.CSS_SELECTOR, "#rows tr[data-key]")  # type: ignore[attr-defined]
            time.sleep(0.5)
        assert len(rows) == 1, "the open escalation appears without a reload; the resolved one does not"
        cells = [c.text for c in rows[0].find_elements(By.TAG_NAME, "td")]  # type: ignore[attr-defined]
        # The brand, and under it the topic (the sample escalation has none of Acme's: other).
        assert cells[:3] == ["critical", "open", "Acme\nother"] and cells[3].startswith("@user")
        assert cells[7].startswith(EVIL), "post text shows as text"
        assert cells[8] == ev["data"]["dedup_key"] and cells[9] == "", "read-only: no buttons"
        assert not driver.find_elements(By.CSS_SELECTOR, "button[name=action]")  # type: ignore[attr-defined]
        assert driver.title == "Flashpoint: escalations", "no script from a post ran"  # type: ignore[attr-defined]
        assert not driver.find_elements(By.CSS_SELECTOR, "#rows img")  # type: ignore[attr-defined]
        shot = Path(os.environ.get("FLASHPOINT_BOARD_SCREENSHOT", tmp_path / "board.png"))
        driver.save_screenshot(str(shot))  # type: ignore[attr-defined]
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    finally:
        if driver is not None:
            driver.quit()  # type: ignore[attr-defined]
        board.terminate()
        out, _ = board.communicate(timeout=30)
        assert board.returncode == 0, out


def start_board(s: Settings, port: int, token: str = "") -> subprocess.Popen[str]:
    env = {**cli_env(s), "FLASHPOINT_BOARD_TOKEN": token}
    board = subprocess.Popen(
        [sys.executable, "-m", "pipeline", "board", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2).read()
            return board
        except OSError:
            assert time.monotonic() < deadline and board.poll() is None, "the board did not start"
            time.sleep(0.3)


FORGERY = """<!doctype html><html><body>
<form id="f" method="post" action="http://127.0.0.1:{port}/feedback">
<input name="dedup_key" value="{key}"><input name="action" value="false_positive"><input name="csrf" value="x">
</form><script>document.getElementById('f').submit();</script></body></html>"""


def test_signed_in_buttons_write_feedback_and_a_forged_request_is_refused(settings: Settings, tmp_path: Path) -> None:
    import http.server
    import threading

    from selenium.webdriver.common.by import By

    s = settings
    asyncio.run(ensure_topics(s, [s.topic_escalations, s.topic_feedback]))
    ev = sample("error")
    key = ev["data"]["dedup_key"]
    asyncio.run(produce_keyed(s.bootstrap_servers, s.topic_escalations, [orjson.dumps(ev)]))
    port = free_port()
    board = start_board(s, port, token="board-s3cret")
    # Another site (another origin: another port) whose page posts to the board.
    evil_dir = tmp_path / "evil"
    evil_dir.mkdir()
    (evil_dir / "index.html").write_text(FORGERY.format(port=port, key=key))
    handler = lambda *a, **k: http.server.SimpleHTTPRequestHandler(*a, directory=str(evil_dir), **k)  # noqa: E731
    evil = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=evil.serve_forever, daemon=True).start()
    driver: object = None
    try:
        driver = browser()
        base = f"http://127.0.0.1:{port}/"
        driver.get(base)  # type: ignore[attr-defined]
        assert "Sign in" in driver.find_element(By.ID, "who").text  # type: ignore[attr-defined]
        assert not driver.find_elements(By.CSS_SELECTOR, "button[name=action]")  # type: ignore[attr-defined]
        driver.get(base + "login")  # type: ignore[attr-defined]
        driver.find_element(By.NAME, "name").send_keys("Sam Care")  # type: ignore[attr-defined]
        driver.find_element(By.NAME, "token").send_keys("board-s3cret")  # type: ignore[attr-defined]
        driver.find_element(By.CSS_SELECTOR, "form button").click()  # type: ignore[attr-defined]
        deadline = time.monotonic() + 30
        buttons: list[object] = []
        while time.monotonic() < deadline and not buttons:
            buttons = driver.find_elements(By.CSS_SELECTOR, "button[value=acknowledge]")  # type: ignore[attr-defined]
            time.sleep(0.3)
        assert "Signed in as Sam Care" in driver.find_element(By.ID, "who").text  # type: ignore[attr-defined]

        # The forgery: signed in here, the person visits another site that posts to the board.
        driver.get(f"http://127.0.0.1:{evil.server_address[1]}/index.html")  # type: ignore[attr-defined]
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and "refused" not in driver.page_source:  # type: ignore[attr-defined]
            time.sleep(0.3)
        assert "refused" in driver.page_source  # type: ignore[attr-defined]

        driver.get(base)  # type: ignore[attr-defined]
        assert click_when_present(driver, "button[value=acknowledge]", timeout=30)
        sent = asyncio.run(collect(s.bootstrap_servers, s.topic_feedback, until=1, timeout=30, settle=3))
        docs = [orjson.loads(v or b"") for _k, v, _h in sent]
        assert [(d["dedup_key"], d["action"], d["by"]) for d in docs] == [(key, "acknowledge", "Sam Care")]
    finally:
        evil.shutdown()
        if driver is not None:
            driver.quit()  # type: ignore[attr-defined]
        board.terminate()
        out, _ = board.communicate(timeout=30)
        assert board.returncode == 0, out
