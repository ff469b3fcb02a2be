from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def cli_output(*args: str) -> str:
    """What ``flashpoint ARGS`` prints, run as a user runs it; fails the test on a
    non-zero exit."""
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "pipeline", *args], capture_output=True, text=True, check=True).stdout


SHARED_DATA = Path(os.environ.get("FLASHPOINT_SHARED_DATA", REPO.parent / "shared" / "data"))
COMPLAINTS_CSV = SHARED_DATA / "complaints" / "complaints_train.csv"
IN_CI = os.environ.get("CI", "").lower() == "true"


def need(condition: bool, reason: str) -> None:
    """Skip where a prerequisite is missing, but never in CI: there it is a failure."""
    if not condition:
        if IN_CI:
            pytest.fail(f"CI must run this test, but: {reason}")
        pytest.skip(reason)


def shared(path: Path) -> Path:
    # Shared data is beside the project where it is available (developers, CI); a clone
    # elsewhere skips these tests cleanly, in CI too. FLASHPOINT_SHARED_DATA points elsewhere.
    if not path.exists():
        pytest.skip(f"{path} not present (shared data)")
    return path


@pytest.fixture(scope="session")
def complaints_csv() -> Path:
    return shared(COMPLAINTS_CSV)


@pytest.fixture(scope="session")
def seismic_example_csv() -> Path:
    """The SEISMIC R package's example cascade."""
    return shared(SHARED_DATA / "cascades" / "seismic-rpkg-example" / "tweet_127001313513967616.csv")


@pytest.fixture(scope="session")
def tideh_events_csv() -> Path:
    """75 large retweet cascades from the SEISMIC data."""
    return shared(SHARED_DATA / "cascades" / "seismic-subset-tideh" / "events.csv.gz")


DATA_FIXTURES = {"complaints_csv", "seismic_example_csv", "tideh_events_csv"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The tiers, from where a test lives and what it uses: everything under
    tests/broker is ``broker`` (the fault suite ``faults`` too), and a test using the
    shared data is ``data``. ``pytest`` alone runs the fast tier (pyproject.toml);
    ``pytest -m ""`` everything (deploy/test.sh, CI). deploy/test.sh runs it on two
    pytest-xdist processes, a file at a time (``--dist loadfile``: a file's module
    fixtures, such as a fault scenario or a SASL broker, are made once). The fault
    scenarios, the longest files, are put first, so that the short ones fill in around
    them."""
    tests = REPO / "tests"
    for item in items:
        where = Path(str(item.fspath)).resolve()
        if tests / "broker" in where.parents:
            item.add_marker(pytest.mark.broker)
            if where.name.startswith("test_faults_"):
                item.add_marker(pytest.mark.faults)
        if DATA_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.data)
    items.sort(key=lambda item: (not item.get_closest_marker("faults"), "crashes" not in item.nodeid))
