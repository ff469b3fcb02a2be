#!/usr/bin/env bash
# The test command: set up, lint, type-check, then every test, the broker, fault and
# training tests included (broker tests start a real Apache Kafka from deploy/kafka.sh).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
deploy/setup.sh
# mypy's cache outside the clone, as pip's and the Kafka jars' are: a fresh clone on a
# machine that has checked one before takes seconds instead of 40.
export MYPY_CACHE_DIR="${MYPY_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/flashpoint/mypy}"
.venv/bin/ruff check pipeline tests models benchmarks
.venv/bin/ruff format --check pipeline tests models benchmarks
.venv/bin/mypy
# Every tier: pyproject.toml's default (`pytest` alone) is the fast one. Two processes,
# a test file at a time, the fault scenarios' files first (tests/conftest.py orders them).
.venv/bin/pytest -m "" -n 2 --dist loadfile --no-loadscope-reorder --durations=15 "$@"
