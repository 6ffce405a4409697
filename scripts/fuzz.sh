#!/usr/bin/env bash
# Runs every Go fuzz target of the module for FUZZTIME each (default 1m),
# one after the other, and prints the total time fuzzed and the targets that
# failed. go test writes a failing input under the package's
# testdata/fuzz/<target>/; commit it with the fix, so the seed corpus keeps it.
# Fuzz targets talk only to loopback, so this needs no service.
set -uo pipefail
cd "$(dirname "$0")/.."

fuzztime=${FUZZTIME:-1m}
workers=${FUZZ_WORKERS:-2}
total=0
ran=0
failed=()
for pkg in $(go list ./...); do
  for target in $(go test -list '^Fuzz' "$pkg" 2>/dev/null | grep '^Fuzz'); do
    echo "== $pkg $target ($fuzztime)"
    start=$(date +%s)
    if ! go test "$pkg" -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" -parallel "$workers"; then
      failed+=("$pkg $target")
    fi
    total=$((total + $(date +%s) - start))
    ran=$((ran + 1))
  done
done
echo "fuzz: $ran target(s), $((total / 60))m$((total % 60))s fuzzed in all, ${#failed[@]} failed"
for f in "${failed[@]}"; do echo "  failed: $f"; done
[ ${#failed[@]} -eq 0 ]
