#!/usr/bin/env bash
# A scratch worktree of HEAD with one fix of pipeline/faust_fixes.py taken out, to show
# what the fault suite catches without it (issue 28, point 3):
#
#   benchmarks/revert_fix.sh N DIR        # N: 1 to 5, 8 or 9 (the module docstring's numbers)
#   PYTHONPATH=DIR benchmarks/fault_seeds.sh results.jsonl 11 12 ...
#
# The worker processes the tests start inherit PYTHONPATH, so they run DIR's pipeline.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
fix="$1"
dir="$2"
git -C "$here" worktree add --detach -q "$dir" HEAD
file="$dir/pipeline/faust_fixes.py"
case "$fix" in
  1) pattern='    AIOKafkaConsumerThread._highwaters = _highwaters  # type: ignore[method-assign]' ;;
  2) pattern='            if ledger.stale(getattr(self, "_flashpoint_stamp", None), tp):' ;;
  3) pattern='    AIOKafkaConsumer.position = _position  # type: ignore[method-assign]' ;;
  5) pattern='    Recovery._seek_offsets = _seek_offsets  # type: ignore[method-assign]' ;;
  8) pattern='    TransactionManager.on_rebalance = _on_rebalance  # type: ignore[method-assign]' ;;
  4) pattern='    Consumer.perform_seek = hold_during_seeks(Consumer.perform_seek)  # type: ignore[method-assign,assignment]' ;;
  9) pattern='    Consumer.resume_flow = release_on_resume(Consumer.resume_flow)  # type: ignore[method-assign,assignment]' ;;
  *) echo "fix must be 1 to 5, 8 or 9" >&2; exit 2 ;;
esac
grep -qxF "$pattern" "$file" || { echo "fix $fix: its line is not in $file any more" >&2; exit 1; }
python3 - "$file" "$pattern" "$fix" <<'EOF'
import sys
path, pattern, fix = sys.argv[1:]
text = open(path).read()
# Fix 2 keeps its bookkeeping but never drops a record; the others are not installed.
replacement = pattern.replace("if ledger.stale(", "if False and ledger.stale(") if fix == "2" else "    pass"
open(path, "w").write(text.replace(pattern + "\n", replacement + "  # reverted by benchmarks/revert_fix.sh\n", 1))
EOF
git -C "$dir" diff --stat
