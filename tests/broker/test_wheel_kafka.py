"""The wheel, installed outside the repository, runs (issue 30.1): built from the
image's build context (tests/test_packaging.py), installed into a fresh virtual
environment, and run from another directory with no path setting pointing back here."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from pipeline.settings import Settings
from tests.broker.conftest import Worker
from tests.test_packaging import copy_context

pytestmark = pytest.mark.broker


def test_the_wheel_predicts_and_starts_a_worker_outside_the_repository(settings: Settings, tmp_path: Path) -> None:
    src = copy_context(tmp_path / "context")
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", dist, src],
        check=True,
        capture_output=True,
    )
    (wheel,) = dist.glob("flashpoint-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", venv / "bin" / "python", "install", "-q", "--no-deps", wheel],
        check=True,
        capture_output=True,
    )
    # The dependencies (PyTorch alone is GBs) come from this environment, after the
    # wheel's own site-packages: the flashpoint package is the wheel's, not the checkout.
    (site,) = (venv / "lib").glob("python*/site-packages")
    (site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLASHPOINT_") and k != "PYTHONPATH"}
    flashpoint = str(venv / "bin" / "flashpoint")

    where = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import pipeline; print(pipeline.__file__)"],
        env=env,
        cwd=elsewhere,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert where.startswith(str(venv)), where
    predicted = subprocess.run(
        [flashpoint, "model", "predict", "-"],
        input="@AcmeCustServ my widget has been broken for 5 days, disgusting!\n",
        env=env,
        cwd=elsewhere,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert predicted.returncode == 0, predicted.stderr
    assert json.loads(predicted.stdout)["complaint_probability"] > 0.5

    # The worker on the test broker, with the wheel's own model, forecast and watchlist.
    paths = ("FLASHPOINT_MODEL_DIR", "FLASHPOINT_REACH_MODEL", "FLASHPOINT_WATCHLIST")
    s = settings.replace(data_dir=elsewhere / "data")
    worker_env = {**env, **{k: v for k, v in s.environ().items() if k not in paths}}
    w = Worker(settings=s, log=tmp_path / "worker.log", env=worker_env, command=[flashpoint, "worker"], cwd=elsewhere)
    try:
        w.start()
        w.wait_ready()
    finally:
        w.stop()
