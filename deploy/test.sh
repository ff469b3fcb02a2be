#!/usr/bin/env bash
# The test command: set up, lint, type-check, then every test, the broker tests
# included (they start a real Apache Kafka from deploy/kafka.sh themselves).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
deploy/setup.sh
.venv/bin/ruff check pipeline tests models benchmarks
.venv/bin/ruff format --check pipeline tests models benchmarks
.venv/bin/mypy
.venv/bin/pytest "$@"
