#!/usr/bin/env bash
# Runs the whole tap suite, prints one line per test file, the failures in full, the coverage
# summary, and ends with a plain "N passed, N failed" line for CI logs.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
out=$(mktemp)
# coverage from earlier runs would be merged into this one's report: start clean
rm -rf .tap/coverage .tap/processinfo
node node_modules/.bin/tap --reporter=tap "$@" > "$out" 2>&1
status=$?
grep -E '^(ok|not ok) [0-9]+ - ' "$out"
if grep -qE '^not ok [0-9]+ - ' "$out"; then
  echo "--- failures ---"
  grep -B5 -A40 -E '^\s*not ok' "$out" | head -400
fi
grep -E '^# (\{ total|SKIP|skip)|ERROR: Coverage|^[A-Za-z ]+\|' "$out" | head -80
pass=$(grep -cE '^\s*ok [0-9]+ ' "$out")
fail=$(grep -cE '^\s*not ok [0-9]+ ' "$out")
[ "$status" -ne 0 ] && [ "$fail" -eq 0 ] && { tail -40 "$out"; fail=1; }
echo "$pass passed, $fail failed"
rm -f "$out"
exit "$status"
