"""The image and the wheel carry what a worker reads at start-up (issue 30.1). There is
no Docker engine here, so the image's build context is computed from .dockerignore as
Docker computes it; tests/broker/test_wheel_kafka.py builds the wheel from that context
and starts a worker from it."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

from pipeline.settings import Settings
from tests.conftest import REPO


def _pattern(rule: str) -> re.Pattern[str]:
    # Docker's matching: * and ? stay within a path element, ** crosses them.
    out = ""
    i = 0
    while i < len(rule):
        if rule.startswith("**", i):
            out += ".*"
            i += 2
        elif rule[i] == "*":
            out += "[^/]*"
            i += 1
        elif rule[i] == "?":
            out += "[^/]"
            i += 1
        else:
            out += re.escape(rule[i])
            i += 1
    return re.compile(out)


def build_context(repo: Path = REPO) -> list[Path]:
    """The files of ``repo`` (under git) that ``docker build .`` sends: a rule excludes
    (or with ``!`` takes back) a path when it matches the path or a folder above it,
    and the last rule that matches wins."""
    rules = []
    for line in (repo / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keep = line.startswith("!")
            rules.append((keep, _pattern(line.lstrip("!").strip("/"))))
    tracked = subprocess.run(["git", "ls-files"], cwd=repo, capture_output=True, text=True, check=True).stdout
    files = []
    for name in tracked.splitlines():
        parts = name.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        included = True
        for keep, pattern in rules:
            if any(pattern.fullmatch(p) for p in prefixes):
                included = keep
        if included and (repo / name).is_file():
            files.append(Path(name))
    return files


def copy_context(dest: Path, repo: Path = REPO) -> Path:
    for name in build_context(repo):
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(repo / name, dest / name)
    return dest


def test_the_context_rules_read_as_docker_reads_them(tmp_path: Path) -> None:
    (tmp_path / ".dockerignore").write_text("*\n!keep/\n!models/one.json\n**/__pycache__\n")
    for name in ("keep/a.py", "keep/__pycache__/a.pyc", "models/one.json", "models/two.json", "top.txt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run(["git", "add", "-f", "."], cwd=tmp_path, check=True)
    assert sorted(map(str, build_context(tmp_path))) == ["keep/a.py", "models/one.json"]


def test_everything_the_worker_reads_at_start_up_is_in_the_build_context() -> None:
    context = set(build_context())
    s = Settings()
    needed = [
        *(p for p in s.model_dir.iterdir() if p.name == "config.json" or p.suffix == ".safetensors"),
        s.reach_model,
        s.watchlist,
        *(REPO / "pipeline" / "schemas").glob("*.json"),
    ]
    missing = [str(p.relative_to(REPO)) for p in needed if p.relative_to(REPO) not in context]
    assert not missing, f"not in the image's build context (.dockerignore): {missing}"
    # And the Dockerfile copies from nothing outside it.
    copied = re.findall(r"^COPY (.+) \S+$", (REPO / "deploy" / "Dockerfile").read_text(), re.M)
    sources = [src for line in copied for src in line.split()]
    for src in sources:
        assert any(f == Path(src) or Path(src) in f.parents for f in context), f"COPY {src}: not in the context"


def test_the_dockerfile_leaves_model_paths_to_the_wheel() -> None:
    # The wheel's defaults point inside the installed package; an image-level path to
    # the source tree would outlive the `rm -rf /app/*` after the install.
    text = (REPO / "deploy" / "Dockerfile").read_text()
    assert "FLASHPOINT_MODEL_DIR" not in text and "FLASHPOINT_REACH_MODEL" not in text


def test_a_worker_names_the_setting_of_a_missing_artifact(tmp_path: Path) -> None:
    s = Settings(model_dir=tmp_path / "nowhere", reach_model=tmp_path / "forecast.json")
    missing = s.missing_artifacts()
    assert any(m.startswith("FLASHPOINT_MODEL_DIR=") for m in missing), missing
    assert any(m.startswith("FLASHPOINT_REACH_MODEL=") for m in missing), missing
    assert Settings().missing_artifacts() == []


def test_the_worker_refuses_to_start_without_its_model(tmp_path: Path) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "FLASHPOINT_MODEL_DIR": str(tmp_path),
        "FLASHPOINT_BOOTSTRAP_SERVERS": "127.0.0.1:9",
    }
    r = subprocess.run(
        [sys.executable, "-m", "pipeline", "worker"], env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and f"FLASHPOINT_MODEL_DIR={tmp_path}" in lines[0], r.stderr
