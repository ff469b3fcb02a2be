#!/usr/bin/env bash
# The fault suite's SIGKILL scenario under several kill schedules, one after another,
# against one broker kept running: a line per schedule appended to RESULTS (JSON: seed,
# outcome, lost, duplicated, the scenario's report), and schedules already there are
# skipped, so a campaign cut short resumes.
#
#   benchmarks/fault_seeds.sh RESULTS SEED... [-- PYTEST_ARGS]
#
# The environment passes through: FLASHPOINT_FAULT_KILLS and FLASHPOINT_FAULT_MENTIONS
# size the scenario, FLASHPOINT_TEST_FETCH_MAX_WAIT_SECONDS and _MIN_BYTES set the
# fetch bound (tests/broker/faults.py); FLASHPOINT_TEST_BOOTSTRAP_SERVERS names a
# running broker (one is started on port 29192 otherwise); PYTHONPATH may point at
# another tree (a fix reverted, say) to run its pipeline package with these tests.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
results="$1"
shift
seeds=()
while [[ $# -gt 0 && "$1" != "--" ]]; do seeds+=("$1"); shift; done
[[ "${1:-}" == "--" ]] && shift
touch "$results"
if [[ -z "${FLASHPOINT_TEST_BOOTSTRAP_SERVERS:-}" ]]; then
  export KAFKA_PORT=29192 KAFKA_STATE_DIR="${TMPDIR:-/tmp}/flashpoint-fault-seeds-kafka"
  "$here/deploy/kafka.sh" start 1 >/dev/null
  trap '"$here/deploy/kafka.sh" stop 1 >/dev/null 2>&1 || true' EXIT
  export FLASHPOINT_TEST_BOOTSTRAP_SERVERS="127.0.0.1:$KAFKA_PORT"
fi
for seed in "${seeds[@]}"; do
  if grep -q "\"seed\": $seed," "$results"; then
    echo "seed $seed: already in $results"
    continue
  fi
  reports="$(mktemp -d)"
  log="$reports/pytest.log"
  began=$(date +%s)
  if FLASHPOINT_FAULT_SEED="$seed" FLASHPOINT_FAULT_REPORTS="$reports" \
    "$here/.venv/bin/pytest" -m "" -p no:cacheprovider -q --basetemp="$reports/tmp" "$@" \
    "$here/tests/broker/test_faults_crashes_kafka.py::test_sigkill_mid_stream_loses_and_doubles_nothing" \
    >"$log" 2>&1; then
    outcome=passed
  else
    outcome=failed
  fi
  "$here/.venv/bin/python" - "$seed" "$outcome" "$reports" "$(($(date +%s) - began))" "$results" "$here" <<'EOF'
import json, re, sys
from pathlib import Path

seed, outcome, reports, seconds, results, here = sys.argv[1:]
sys.path.append(here)  # after PYTHONPATH: a scratch tree's pipeline package stays first
from tests.broker.faults import skipped

report_file = Path(reports) / "crashes.json"
report = json.loads(report_file.read_text()) if report_file.exists() else {}
log = (Path(reports) / "pytest.log").read_text(errors="replace")
lost = re.search(r"lost escalations: (\[.*?\])", log)
# Read from the worker's log, as the scenario's report does: a failed scenario writes none.
worker_log = "\n".join(p.read_text(errors="replace") for p in Path(reports, "tmp").rglob("worker*.log"))
line = {
    "seed": int(seed),
    "outcome": outcome,
    "seconds": int(seconds),
    "lost": report.get("lost", lost.group(1) if lost else None),
    "duplicated": report.get("duplicated"),
    **skipped(worker_log, (".mentions", ".mentions.classified")),
    "report": report,
    # The assertion's first lines (the evidence after them stays in the kept log).
    "failure": [ln[:300] for ln in log.splitlines() if ln.startswith("E ")][:12],
}
with open(results, "a") as f:
    f.write(json.dumps(line) + "\n")
print(f"seed {seed}: {outcome} in {seconds} s (lost {line['lost']}, duplicated {line['duplicated']})")
EOF
  if [[ "$outcome" == failed ]]; then
    mkdir -p "$results.logs" && cp "$log" "$results.logs/seed-$seed.log"
    find "$reports/tmp" -name 'worker*.log' -exec cp {} "$results.logs/seed-$seed-worker.log" \;
  fi
  rm -rf "$reports"
done
