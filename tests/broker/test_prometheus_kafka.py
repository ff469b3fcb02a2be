"""A real Prometheus scraping a real worker on a real Kafka: the series SREs rely on,
with the values the replayed stream implies, read through Prometheus' query API."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipeline.schemas import REASON_CODES
from pipeline.settings import Settings
from tests.broker.conftest import Worker, collect, free_port, make_worker, produce
from tests.broker.test_pipeline_kafka import BAD, ROOT_TEXT, root, viral_cascade
from tests.conftest import REPO, need
from tests.factories import mention_bytes

pytestmark = pytest.mark.broker


IGNORED = ("__name__", "job", "instance")


class Prometheus:
    def __init__(self, url: str) -> None:
        self.url = url

    def api(self, path: str, **params: str) -> Any:
        q = urllib.parse.urlencode(params)
        with urllib.request.urlopen(f"{self.url}/api/v1/{path}?{q}", timeout=10) as r:
            body = json.loads(r.read())
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr: str) -> dict[str, float]:
        """Instant vector as {label values joined by ',': value}."""
        data = self.api("query", query=expr)
        assert data["resultType"] == "vector", (expr, data)
        return {
            ",".join(v for k, v in sorted(r["metric"].items()) if k not in IGNORED): float(r["value"][1])
            for r in data["result"]
        }

    def wait(self, expr: str, ok: Callable[[dict[str, float]], bool], timeout: float = 90) -> dict[str, float]:
        deadline = time.monotonic() + timeout
        got: dict[str, float] = {}
        while time.monotonic() < deadline:
            got = self.query(expr)
            if ok(got):
                return got
            time.sleep(1)
        raise AssertionError(f"{expr}: still {got} after {timeout}s")


@pytest.fixture
def prometheus_for(tmp_path: Path) -> Iterator[Callable[[int], Prometheus]]:
    need(shutil.which("prometheus") is not None, "prometheus (Debian package) not installed")
    procs: list[subprocess.Popen[bytes]] = []

    def start(metrics_port: int) -> Prometheus:
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(REPO / "deploy/prometheus/alerts.yml")],
            "scrape_configs": [
                {"job_name": "flashpoint", "static_configs": [{"targets": [f"127.0.0.1:{metrics_port}"]}]}
            ],
        }
        (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
        port = free_port()
        procs.append(
            subprocess.Popen(
                [
                    "prometheus",
                    f"--config.file={tmp_path / 'prometheus.yml'}",
                    f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                    f"--web.listen-address=127.0.0.1:{port}",
                ],
                stdout=open(tmp_path / "prometheus.log", "ab"),  # noqa: SIM115 - the child owns it
                stderr=subprocess.STDOUT,
            )
        )
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(url + "/-/ready", timeout=2) as r:
                    if r.status == 200:
                        return Prometheus(url)
            except OSError:
                time.sleep(0.3)
        raise AssertionError((tmp_path / "prometheus.log").read_text()[-3000:])

    try:
        yield start
    finally:
        for p in procs:
            p.terminate()
            p.wait(timeout=30)


def test_prometheus_sees_the_pipeline_as_it_ran(
    settings: Settings, tmp_path: Path, prometheus_for: Callable[[int], Prometheus]
) -> None:
    s = settings.replace(lag_interval_seconds=1.0, log_format="json", pagerduty_routing_key="R0UT1NGK3Y-s3cr3t")
    worker = make_worker(s, tmp_path / "worker.log")
    prom = prometheus_for(s.metrics_port)
    cascade = [root("m1"), *viral_cascade("m1", [3000] * 10 + [200000, 800000])]
    praise = mention_bytes(id="m2", text="Huge thanks @AcmeCustServ, brilliant!", author={"followers": 900})
    unmatched = mention_bytes(id="m3", text="Lovely sunset tonight")
    stream = cascade[:1] + list(BAD) + cascade[1:] + [praise, unmatched, cascade[0], cascade[3]]
    try:
        worker.start()
        # From ready on, so the end-to-end latency is the pipeline's, not its start-up's.
        worker.wait_ready()
        _run_stream(worker, s, stream)
        check(prom, worker, s, produced=len(stream))
    finally:
        worker.stop()
    check_logs(worker.log.read_text(), secret="R0UT1NGK3Y-s3cr3t", texts=[ROOT_TEXT, "Huge thanks", "Lovely sunset"])


def check_logs(log: str, secret: str, texts: list[str]) -> None:
    """JSON lines only; escalation lines name their cascade, mention and dedup key;
    no post text and no secret anywhere."""
    lines = [json.loads(line) for line in log.splitlines() if line.strip()]
    assert lines and all({"time", "level", "logger", "message"} <= set(x) for x in lines)
    escalations = [x for x in lines if x["message"].startswith("escalation ")]
    assert len(escalations) == 4, [x["message"] for x in lines]
    assert all(x["cascade_id"] == "twitter:m1" and x["mention_id"] == "twitter:m1" for x in escalations)
    assert all(x["dedup_key"] == "Acme/twitter:m1" for x in escalations)
    dead = [x for x in lines if x["message"].startswith("dead letter")]
    assert len(dead) == len(BAD) and all({"topic", "partition", "offset", "reason_code"} <= set(x) for x in dead)
    for text in [secret, *texts]:
        assert text not in log, f"{text!r} in the worker log"


def _run_stream(worker: Worker, s: Settings, stream: list[bytes]) -> None:
    async def go() -> list[Any]:
        await produce(s.bootstrap_servers, s.topic_mentions, stream, key=b"integrator-1")
        return await collect(s.bootstrap_servers, s.topic_escalations, until=4, timeout=180, worker=worker, settle=3)

    assert len(asyncio.run(go())) == 4, worker.tail()


def check(prom: Prometheus, worker: Worker, s: Settings, produced: int) -> None:
    assert prom.wait('up{job="flashpoint"}', lambda r: r == {"": 1.0}) == {"": 1.0}
    outcomes = prom.wait(
        "sum by (outcome) (flashpoint_mentions_total)",
        lambda r: sum(v for k, v in r.items() if k != "duplicate") == produced,
    )
    # 13 cascade mentions + praise + 2 redelivered; the sunset; the six broken ones.
    assert outcomes == {"matched": 16.0, "unmatched": 1.0, "dead_letter": 6.0, "duplicate": 2.0}, worker.tail()
    reasons = prom.query("sum by (reason) (flashpoint_dead_letters_total)")
    assert sum(reasons.values()) == 6 and reasons["not_json"] == 1 and set(reasons) <= set(REASON_CODES)
    assert prom.query("sum(flashpoint_classified_total)") == {"": 4.0}, "root twice, praise, sunset; no reposts"
    assert prom.query("sum(flashpoint_escalations_total)") == {"": 4.0}
    assert prom.query("sum by (severity) (flashpoint_escalations_total)") == {
        "info": 1.0,
        "warning": 1.0,
        "error": 1.0,
        "critical": 1.0,
    }
    (e2e,) = prom.query("flashpoint_end_to_end_latency_seconds_count").values()
    assert e2e == 4.0
    (p99,) = prom.query("histogram_quantile(0.99, sum by (le) (flashpoint_end_to_end_latency_seconds_bucket))").values()
    assert 0 < p99 < 60
    batches = prom.query("sum(flashpoint_inference_batch_size_count)")[""]
    assert batches >= 1 and prom.query("sum(flashpoint_inference_seconds_count)") == {"": batches}
    assert prom.query("sum(flashpoint_inference_batch_size_sum)") == {"": 4.0}
    # The sunset names no brand, but starts a conversation a brand's account may answer in.
    assert prom.query("sum(flashpoint_cascade_events_total)") == {"": 15.0}, "13 of m1, 1 of m2, 1 of m3"
    assert prom.wait("flashpoint_active_cascades", lambda r: r == {"": 3.0}) == {"": 3.0}
    # Every partition of every consumed topic has a lag series, and they drain to zero.
    topics = {s.topic_mentions, s.topic_classified, s.topic_desk, s.topic_feedback}
    lag = prom.wait(
        "flashpoint_consumer_lag_messages",
        lambda r: len(r) == s.partitions * len(topics) and not any(r.values()),
    )
    assert {k.split(",")[1] for k in lag} == topics
    assert not any(prom.query("flashpoint_consumer_lag_seconds").values())
    assert prom.query("flashpoint_ready") == {"": 1.0}
    assert prom.query("sum(flashpoint_rebalances_total)")[""] >= 1
    assert prom.query("sum(flashpoint_rebalance_seconds_count)")[""] >= 1
    assert prom.query("sum(flashpoint_commit_seconds_count)")[""] >= 1
    assert prom.query("sum(flashpoint_mention_age_seconds_count)") == {"": 17.0}
    assert prom.query("sum(flashpoint_assigned_partitions)") == {"": 4.0 * s.partitions}
    (build,) = prom.api("query", query="flashpoint_build_info")["result"]
    assert build["metric"]["version"] and build["metric"]["faust"]
    (model,) = prom.api("query", query="flashpoint_model_info")["result"]
    assert model["metric"]["device"] == "cpu"
    # The alert rules load in a real Prometheus, and a healthy run fires none of them.
    rules = [r for g in prom.api("rules")["groups"] for r in g["rules"]]
    assert len(rules) == 9 and all(r["health"] == "ok" for r in rules), rules
    assert prom.api("alerts")["alerts"] == []
    # Every dashboard query runs on the series the worker exports.
    dash = json.loads((REPO / "deploy/grafana/dashboards/flashpoint.json").read_text())
    empty = []
    for panel in dash["panels"]:
        for t in panel["targets"]:
            if not prom.api("query", query=t["expr"].replace("$__rate_interval", "1m"))["result"]:
                empty.append((panel["title"], t["expr"]))
    # Quiet by design in a healthy run: model errors and lag-probe failures never
    # happened, so their counters have no increase yet (they exist, at 0).
    assert all("errors" in expr for _, expr in empty), empty
