#!/usr/bin/env bash
# Sourced by scripts/fuzz.sh and scripts/mutate.sh: seconds converts a Go
# duration of hours, minutes and seconds (90s, 10m, 1h30m) to seconds, and
# stops the script, naming itself ($duration_caller), on anything else.

seconds() {
  local d=$1 s=0 n unit
  if [[ ! $d =~ ^([0-9]+[hms])+$ ]]; then
    echo "${duration_caller:-duration}: $d is not a duration like 90s, 10m or 1h30m" >&2
    exit 2
  fi
  while [[ $d =~ ^([0-9]+)([hms])(.*)$ ]]; do
    n=${BASH_REMATCH[1]} unit=${BASH_REMATCH[2]} d=${BASH_REMATCH[3]}
    case $unit in h) s=$((s + n * 3600)) ;; m) s=$((s + n * 60)) ;; s) s=$((s + n)) ;; esac
  done
  echo "$s"
}
