"""Deployment files: compose validated by docker-compose itself, Dockerfile context checked."""

from __future__ import annotations

import shutil
import subprocess

import yaml

from tests.conftest import REPO, need


def compose_config() -> dict:  # type: ignore[type-arg]
    need(shutil.which("docker-compose") is not None, "docker-compose (Debian package) not installed")
    out = subprocess.run(
        ["docker-compose", "-f", str(REPO / "docker-compose.yml"), "config"],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    return yaml.safe_load(out.stdout)  # type: ignore[no-any-return]


def test_compose_file_is_valid_and_wires_kafka_topics_worker() -> None:
    services = compose_config()["services"]
    assert {"kafka", "topics", "worker", "prometheus", "grafana"} <= set(services)
    assert services["kafka"]["image"].startswith("apache/kafka:4.")
    worker = services["worker"]
    assert worker["build"]["dockerfile"].endswith("deploy/Dockerfile")
    assert worker["environment"]["FLASHPOINT_BOOTSTRAP_SERVERS"] == "kafka:9092"
    # Internal topics must match the worker's partition setting, or Faust refuses to start.
    assert worker["environment"]["FLASHPOINT_PARTITIONS"] == services["topics"]["environment"]["PARTITIONS"]
    assert worker["depends_on"]["topics"]["condition"] == "service_completed_successfully"


def test_deploy_scripts_parse() -> None:
    for script in ["deploy/kafka.sh", "deploy/setup.sh", "deploy/test.sh", ".ci/run"]:
        assert subprocess.run(["bash", "-n", str(REPO / script)], check=False).returncode == 0, script


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    need(shutil.which("promtool") is not None, "promtool (Debian package prometheus) not installed")
    return subprocess.run(
        ["promtool", *args], capture_output=True, text=True, cwd=REPO / "deploy" / "prometheus", check=False
    )


def test_alert_rules_pass_promtool_check() -> None:
    out = promtool("check", "rules", "alerts.yml")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS: 9 rules found" in out.stdout


def test_every_alert_fires_and_stays_quiet_as_its_unit_tests_say() -> None:
    rules = yaml.safe_load((REPO / "deploy/prometheus/alerts.yml").read_text())
    alerts = {r["alert"] for g in rules["groups"] for r in g["rules"]}
    cases = yaml.safe_load((REPO / "deploy/prometheus/alerts.test.yml").read_text())["tests"]
    tested = {t["alertname"] for c in cases for t in c["alert_rule_test"] if t["exp_alerts"]}
    assert tested == alerts, f"alerts without a firing test: {alerts - tested}"
    out = promtool("test", "rules", "alerts.test.yml")
    assert out.returncode == 0, out.stdout + out.stderr


def test_every_alert_has_a_runbook_section() -> None:
    rules = yaml.safe_load((REPO / "deploy/prometheus/alerts.yml").read_text())
    runbook = (REPO / "docs" / "observability.md").read_text().lower()
    for g in rules["groups"]:
        for r in g["rules"]:
            anchor = r["annotations"]["runbook"].split("#", 1)[1]
            assert f"### {anchor}" in runbook, f"{r['alert']}: no '### {r['alert']}' section in docs/observability.md"


def test_compose_provisions_prometheus_with_the_rules_and_grafana_with_the_dashboard() -> None:
    services = compose_config()["services"]

    def mounts(service: dict) -> dict[str, str]:  # type: ignore[type-arg]
        # docker-compose 1.x prints "source:target[:mode]"; 2.x prints mappings.
        out = {}
        for v in service["volumes"]:
            source, target = (v["source"], v["target"]) if isinstance(v, dict) else v.split(":")[:2]
            out[target] = source
        return out

    assert mounts(services["prometheus"])["/etc/prometheus"].endswith("deploy/prometheus")
    config = yaml.safe_load((REPO / "deploy/prometheus/prometheus.yml").read_text())
    assert config["rule_files"] == ["alerts.yml"]
    grafana = mounts(services["grafana"])
    assert grafana["/etc/grafana/provisioning"].endswith("deploy/grafana/provisioning")
    assert grafana["/var/lib/grafana/dashboards"].endswith("deploy/grafana/dashboards")
    provider = yaml.safe_load((REPO / "deploy/grafana/provisioning/dashboards/flashpoint.yml").read_text())
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"
    source = yaml.safe_load((REPO / "deploy/grafana/provisioning/datasources/prometheus.yml").read_text())
    assert source["datasources"][0]["url"] == "http://prometheus:9090"
    assert source["datasources"][0]["uid"] == "prometheus"
