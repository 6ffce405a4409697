#!/usr/bin/env bash
# Runs every Go fuzz target of the repository, each for its share of a total
# time, and prints the total fuzzing time and the crashes found.
#
# Targets are discovered with `go test -list`, so a new FuzzXxx in any
# package is fuzzed without a change here. Settings (environment):
#   FUZZ_TOTAL       the total fuzzing time, a Go duration (default 10m)
#   FUZZ_PER_TARGET  each target's time instead of a share of FUZZ_TOTAL
#                    (FUZZTIME is read the same way)
#   FUZZ_MIN         the least time any target gets (default 10s)
#   FUZZ_WORKERS     fuzzing processes per target (default 2, the cores)
#   FUZZ_PACKAGES    the packages to search (default ./...)
# Fuzz targets talk only to loopback, so this needs no service.
# A crash leaves its input under the package's testdata/fuzz/FuzzXxx/, where
# `go test` replays it from then on; the script exits 1 when it found any.
set -euo pipefail
cd "$(dirname "$0")/.."

total=${FUZZ_TOTAL:-10m}
per_target=${FUZZ_PER_TARGET:-${FUZZTIME:-}}
workers=${FUZZ_WORKERS:-2}
min=${FUZZ_MIN:-10s}
packages=${FUZZ_PACKAGES:-./...}

duration_caller=fuzz
# shellcheck source=/dev/null
source scripts/duration.sh

echo "== discovering fuzz targets in $packages"
# go test -list prints the matching names of a package, then its "ok" line.
targets=()
names=()
while read -r first second _; do
  case $first in
  Fuzz*) names+=("$first") ;;
  ok)
    for name in "${names[@]}"; do targets+=("$second $name"); done
    names=()
    ;;
  esac
done < <(go test -list '^Fuzz' $packages)
if [ ${#targets[@]} -eq 0 ]; then
  echo "fuzz: no fuzz target found" >&2
  exit 2
fi

if [ -n "$per_target" ]; then
  per=$(seconds "$per_target")
else
  per=$(( ($(seconds "$total") + ${#targets[@]} - 1) / ${#targets[@]} ))
  per=$(( per < $(seconds "$min") ? $(seconds "$min") : per ))
fi
echo "== ${#targets[@]} targets, ${per}s each"

began=$(date +%s)
log=$(mktemp)
trap 'rm -f "$log"' EXIT
fuzzing=0 # seconds the fuzzer itself ran, as it reports them
crashes=0
report=()
for target in "${targets[@]}"; do
  pkg=${target% *} name=${target#* }
  echo "== $pkg $name (${per}s)"
  start=$(date +%s)
  # go test's own timeout (10m by default) would cut a longer run short.
  if go test -run '^$' -fuzz "^${name}\$" -fuzztime "${per}s" -parallel "$workers" -timeout "$((per + 600))s" "$pkg" >"$log" 2>&1; then
    result=ok
  else
    result=FAILED
  fi
  took=$(( $(date +%s) - start ))
  # The fuzzer's last progress line: elapsed time, executions, corpus.
  progress=$(grep -E '^fuzz: elapsed:' "$log" | tail -n 1 || true)
  # Its elapsed time is a Go duration: 59s, 1m27s, 1h0m5s.
  elapsed=$(sed -nE 's/^fuzz: elapsed: ([0-9hms]+),.*/\1/p' <<<"$progress")
  fuzzing=$((fuzzing + $(seconds "${elapsed:-0s}")))
  echo "   ${progress:-no progress line} (${took}s with the build)"
  if [ "$result" != ok ]; then
    crashes=$((crashes + 1))
    tail -n 40 "$log"
    # go test names the input it wrote, relative to the package.
    crash=$(grep -oE 'testdata/fuzz/[A-Za-z0-9_]+/[0-9a-f]+' "$log" | head -n 1 || true)
    dir=$(go list -f '{{.Dir}}' "$pkg")
    report+=("CRASH $pkg $name: ${crash:+${dir#"$PWD"/}/$crash}")
  else
    report+=("ok    $pkg $name: ${progress#fuzz: }")
  fi
done

wall=$(( $(date +%s) - began ))
echo
echo "== fuzz summary"
printf '%s\n' "${report[@]}"
echo "fuzz: ${#targets[@]} targets, total fuzzing time ${fuzzing}s ($((fuzzing / 60))m$((fuzzing % 60))s; ${wall}s with builds), crashes found: $crashes"
[ "$crashes" -eq 0 ]
