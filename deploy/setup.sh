#!/usr/bin/env bash
# Everything Flashpoint needs on a fresh Debian machine, idempotent:
#   Debian packages (docker-compose for validating the compose file; Java 17 and Maven
#   for the Kafka broker; Chromium and its driver for the board's browser test; Prometheus for the
#   metrics and alert tests), when missing; the virtual environment .venv with Flashpoint and
#   its dev tools, and the Apache Kafka jars from Maven Central.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

need_apt=()
command -v docker-compose >/dev/null || need_apt+=(docker-compose)
command -v java >/dev/null || need_apt+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || need_apt+=(maven)
# Headless Chromium for the board's end-to-end test.
command -v chromium >/dev/null || need_apt+=(chromium)
command -v chromedriver >/dev/null || need_apt+=(chromium-driver)
# Prometheus and promtool: the alert-rule tests and the scrape test against a real worker.
command -v promtool >/dev/null || need_apt+=(prometheus)
if ((${#need_apt[@]})); then
  echo "setup: installing Debian packages: ${need_apt[*]}"
  sudo_cmd=""; [ "$(id -u)" = 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
# PyTorch from PyPI is the multi-GB CUDA build: pip's cache serves it after the first install.
# --no-compile: byte-compiling every module of every package took 45 s of a 2-minute
# install on two cores; Python compiles the few it imports when it first does.
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q --no-compile -e '.[dev]'

deploy/kafka.sh fetch
echo "setup: done (.venv ready, Kafka jars cached)"
