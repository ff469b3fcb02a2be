"""Deployment files: compose validated by docker-compose itself, Dockerfile context checked."""

from __future__ import annotations

import fnmatch
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
    assert {"kafka", "topics", "worker", "prometheus"} <= set(services)
    assert services["kafka"]["image"].startswith("apache/kafka:4.")
    worker = services["worker"]
    assert worker["build"]["dockerfile"].endswith("deploy/Dockerfile")
    assert worker["environment"]["FLASHPOINT_BOOTSTRAP_SERVERS"] == "kafka:9092"
    # Internal topics must match the worker's partition setting, or Faust refuses to start.
    assert worker["environment"]["FLASHPOINT_PARTITIONS"] == services["topics"]["environment"]["PARTITIONS"]
    assert worker["depends_on"]["topics"]["condition"] == "service_completed_successfully"


def _ignored(path: str, patterns: list[str]) -> bool:
    excluded = False
    for p in patterns:
        negate = p.startswith("!")
        pat = p[1:] if negate else p
        if fnmatch.fnmatch(path, pat.rstrip("/")) or fnmatch.fnmatch(path, pat.rstrip("/") + "/*"):
            excluded = not negate
    return excluded


def test_dockerfile_copies_only_what_the_context_keeps() -> None:
    patterns = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    copies = [
        line.split()[1]
        for line in (REPO / "deploy" / "Dockerfile").read_text().splitlines()
        if line.startswith("COPY ")
    ]
    assert copies, "the Dockerfile copies something"
    for src in copies:
        assert (REPO / src).exists(), f"COPY {src}: not in the repository"
        assert not _ignored(src, patterns), f"COPY {src}: excluded by .dockerignore"
    assert _ignored("tests/test_deploy.py", patterns) and _ignored(".venv/bin/python", patterns)
    assert (REPO / "models/complaint/head.safetensors").exists()


def test_deploy_scripts_parse() -> None:
    for script in ["deploy/kafka.sh", "deploy/setup.sh", "deploy/test.sh", ".ci/run"]:
        assert subprocess.run(["bash", "-n", str(REPO / script)], check=False).returncode == 0, script
