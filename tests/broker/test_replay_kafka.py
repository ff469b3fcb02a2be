"""``flashpoint replay`` on a real broker: a real worker over the brand-traffic fixture
(tests/data/brand_traffic.jsonl) with the real model; the brand's own accounts must
leak into nothing."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from pipeline.settings import Settings
from tests.conftest import REPO

pytestmark = pytest.mark.broker

DATA = REPO / "tests" / "data"


def test_replay_reports_no_brand_account_leaks(settings: Settings, tmp_path: Path) -> None:
    s = dataclasses.replace(settings, watchlist=DATA / "brand_traffic.toml")
    out = tmp_path / "report.json"
    env = {**os.environ, "FLASHPOINT_DEVICE": "cpu", "FLASHPOINT_PARTITIONS": str(s.partitions)}
    args = ["replay", str(DATA / "brand_traffic.jsonl"), "--watchlist", str(s.watchlist), "--out", str(out)]
    args += ["--bootstrap-servers", s.bootstrap_servers, "--quiet-seconds", "5", "--timeout", "300"]
    done = subprocess.run(
        [sys.executable, "-m", "pipeline", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=420,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    r = orjson.loads(out.read_bytes())
    assert r["mode"] == "broker" and r["mentions"] == 11
    assert set(r["leaks"].values()) == {0}, r["leaks"]
    escalated = {x["dedup_key"] for x in r["sample"]}
    assert {"Acme/twitter:201", "Acme/twitter:301"} <= escalated, r["sample"]
    assert "Acme/twitter:101" not in escalated, "the support account's followers are not the complaint's reach"
