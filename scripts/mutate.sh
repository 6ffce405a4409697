#!/usr/bin/env bash
# Mutation testing of the packages whose mistakes cost users most: it runs
# go-gremlins/gremlins over each, which changes the code one mutant at a
# time (a condition negated, a boundary moved, an operator swapped) and
# runs the package's tests against it. A mutant the tests fail is killed;
# one they pass lived: a behaviour no test holds.
#
# For each package it prints the efficacy (killed / (killed + lived)) and
# the mutator coverage ((killed + lived) / every mutant: a mutant on code no
# test runs is "not covered"), then every mutant that lived, with its line.
# Not in CI: a full run takes hours. Settings (environment):
#   MUTATE_TOTAL     the time budget of the whole run, a Go duration of
#                    hours, minutes and seconds (default 8h); each package
#                    gets a share in proportion to what it costs
#   MUTATE_PACKAGES  the packages, under internal/ (default: config oidc
#                    awsauth ghaction registry deploy iamglob sandbox/iam,
#                    of which only the policy evaluator, evaluate.go, is
#                    mutated; iamglob is its wildcard matcher)
#   MUTATE_WORKERS   mutants tested at once (default 2, the cores)
#   MUTATE_PARALLEL  tests run at once within one mutant's test run (go
#                    test -parallel, default 8): the registry and deploy
#                    tests mostly wait on rollouts and polls, not the CPU
#   MUTATE_DIFF      mutate only the code changed since this commit or
#                    branch (e.g. main), for a quick look at one change
#   MUTATE_OUT       where the reports go (default a temporary directory)
# The registry and deploy tests need a Docker engine and a registry: the
# script starts them as scripts/test.sh does, and stops what it started.
set -uo pipefail
cd "$(dirname "$0")/.."

GREMLINS_VERSION=v0.6.0
total=${MUTATE_TOTAL:-8h}
workers=${MUTATE_WORKERS:-2}
export GOFLAGS="${GOFLAGS:+$GOFLAGS }-parallel=${MUTATE_PARALLEL:-8}"
out=${MUTATE_OUT:-$(mktemp -d)}
read -r -a packages <<<"${MUTATE_PACKAGES:-config oidc awsauth ghaction registry deploy iamglob sandbox/iam}"
mkdir -p "$out"

duration_caller=mutate
# shellcheck source=/dev/null
source scripts/duration.sh
budget=$(seconds "$total") || exit 2

# weight is what a package's run costs, relative to the others: its mutants
# times how long its tests take (the deploy tests roll services out in the
# sandbox, the registry tests push through a Docker engine).
weight() {
  case $1 in
  deploy) echo 12 ;;
  registry) echo 12 ;;
  awsauth) echo 2 ;;
  *) echo 1 ;;
  esac
}

# excluded names, per package, the files not mutated (relative to the
# package): test helpers, and, in the sandbox's IAM, everything but the
# policy evaluator.
excluded() {
  case $1 in
  ghaction) echo '^ghactiontest/' ;;
  sandbox/iam) echo '^(api|validate|directory|sessions|authorizer|policy)\.go$' ;;
  esac
}

export PATH="$(go env GOPATH)/bin:/usr/bin:$PATH"
# gremlins built by go install calls itself "dev": its module says which it is.
if ! command -v gremlins >/dev/null || ! go version -m "$(command -v gremlins)" | grep -qE "^\s+mod\s+github.com/go-gremlins/gremlins\s+$GREMLINS_VERSION\b"; then
  echo "== installing gremlins $GREMLINS_VERSION"
  go install "github.com/go-gremlins/gremlins/cmd/gremlins@$GREMLINS_VERSION" || exit 1
fi

# shellcheck source=/dev/null
source scripts/services.sh
services_start || exit 1
trap services_stop EXIT

weights=0
for p in "${packages[@]}"; do weights=$((weights + $(weight "$p"))); done
diff_args=()
if [ -n "${MUTATE_DIFF:-}" ]; then diff_args=(--diff "$MUTATE_DIFF"); fi

summary="$out/summary.txt"
printf '%-12s %7s %6s %12s %9s %10s %9s %9s\n' package killed lived "not covered" "timed out" "not viable" efficacy coverage >"$summary"
for p in "${packages[@]}"; do
  share=$((budget * $(weight "$p") / weights))
  report="$out/${p//\//-}.txt"
  echo "== internal/$p (budget ${share}s, report $report)"
  # The timeout of each mutant's test run is the package's own test time
  # times the coefficient; building the mutant takes longer than a cached
  # test run, which a small coefficient would count as a time-out.
  exclude_args=()
  if [ -n "$(excluded "$p")" ]; then exclude_args=(--exclude-files "$(excluded "$p")"); fi
  # gremlins runs in a process group of its own, so that when the budget
  # is spent the test runs it started go with it.
  setsid gremlins unleash "./internal/$p" --workers "$workers" --timeout-coefficient 20 "${diff_args[@]}" "${exclude_args[@]}" >"$report" 2>&1 &
  gremlins_pid=$!
  # gremlins goes first, so that the test runs stopped with it are not
  # taken for mutants that lived; then what it started.
  (sleep "$share" && kill -KILL "$gremlins_pid" 2>/dev/null && kill -TERM -- "-$gremlins_pid" 2>/dev/null) &
  watchdog_pid=$!
  wait "$gremlins_pid"
  status=$?
  kill "$watchdog_pid" 2>/dev/null
  wait "$watchdog_pid" 2>/dev/null
  count() { grep -cE "^ *$1 " "$report"; }
  if grep -q '^Killed:' "$report"; then
    read -r killed lived uncovered < <(sed -nE 's/^Killed: ([0-9]+), Lived: ([0-9]+), Not covered: ([0-9]+).*/\1 \2 \3/p' "$report")
    read -r timedout notviable < <(sed -nE 's/^Timed out: ([0-9]+), Not viable: ([0-9]+).*/\1 \2/p' "$report")
    efficacy=$(sed -nE 's/^Test efficacy: (.*)$/\1/p' "$report")
    coverage=$(sed -nE 's/^Mutator coverage: (.*)$/\1/p' "$report")
    note=""
  else
    # The budget ran out: the mutants tested so far, each printed as it
    # was decided.
    killed=$(count KILLED) lived=$(count LIVED) uncovered=$(count 'NOT COVERED')
    timedout=$(count 'TIMED OUT') notviable=$(count 'NOT VIABLE')
    efficacy=$(awk -v k="$killed" -v l="$lived" 'BEGIN { if (k + l) printf "%.2f%%", 100 * k / (k + l); else print "-" }')
    coverage="-"
    note="  (budget of ${share}s spent, exit $status: only the mutants tested by then; see $report)"
  fi
  printf '%-12s %7s %6s %12s %9s %10s %9s %9s%s\n' "$p" "$killed" "$lived" "$uncovered" "$timedout" "$notviable" "$efficacy" "$coverage" "$note" >>"$summary"
  # Every mutant that lived, then every one no test reached, with the line
  # it changed.
  for status in LIVED 'NOT COVERED'; do
    grep -E "^ *$status " "$report" | sed -E "s/^ *$status //" | while read -r kind _ where; do
      file=${where%%:*} rest=${where#*:} line=${rest%%:*}
      printf '  %-11s %-22s %s/%s  %s\n' "$status" "$kind" "internal/$p" "$where" "$(sed -n "${line}p" "internal/$p/$file" | sed -E 's/^[[:space:]]+//')"
    done
  done >>"$summary"
done

echo
echo "== mutation testing ($total budget, $workers workers)"
cat "$summary"
