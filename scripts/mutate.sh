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

# Go's coverage profile has no block for a case clause's expression nor
# for a package-level variable's initialiser, so gremlins calls a mutant
# there NOT COVERED however many tests run it, and never tests it. After
# gremlins, internal/tools/uncovered tests each of those with the mutated
# file overlaid (go test -overlay), within what is left of the package's
# budget; the figures count its verdicts with gremlins' own.
uncovered_bin="$out/uncovered"
go build -o "$uncovered_bin" ./internal/tools/uncovered || exit 1

summary="$out/summary.txt"
printf '%-12s %7s %6s %12s %9s %10s %9s %9s\n' package killed lived "not covered" "timed out" "not viable" efficacy coverage >"$summary"
for p in "${packages[@]}"; do
  share=$((budget * $(weight "$p") / weights))
  deadline=$(($(date +%s) + share))
  report="$out/${p//\//-}.txt"
  retested="$out/${p//\//-}-uncovered.txt"
  echo "== internal/$p (budget ${share}s, reports $report and $retested)"
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
  # The watchdog stops its own sleep when stopped, so that nothing holds
  # the script's output open after it.
  (
    sleep "$share" &
    sleep_pid=$!
    trap 'kill "$sleep_pid" 2>/dev/null; exit 0' TERM
    wait "$sleep_pid" && kill -KILL "$gremlins_pid" 2>/dev/null && kill -TERM -- "-$gremlins_pid" 2>/dev/null
  ) &
  watchdog_pid=$!
  wait "$gremlins_pid"
  status=$?
  kill "$watchdog_pid" 2>/dev/null
  wait "$watchdog_pid" 2>/dev/null
  note=""
  if ! grep -q '^Killed:' "$report"; then
    note="  (budget of ${share}s spent in gremlins, exit $status: only the mutants tested by then; see $report)"
  fi
  "$uncovered_bin" -dir "internal/$p" -timeout-coefficient 20 -parallel "${MUTATE_PARALLEL:-8}" -deadline "$deadline" <"$report" >"$retested" 2>"$retested.log"
  uncovered_status=$?
  if [ "$uncovered_status" != 0 ] || grep -q 'deadline reached' "$retested.log"; then
    note="$note  (not every NOT COVERED mutant retested, exit $uncovered_status; see $retested.log)"
  fi
  # Each mutant is printed as it is decided, by gremlins and then by the
  # retest; a NOT COVERED one the retest decided counts once, by its verdict.
  count() { cat "$report" "$retested" | grep -cE "^ *$1 "; }
  killed=$(count KILLED) lived=$(count LIVED) timedout=$(count 'TIMED OUT') notviable=$(count 'NOT VIABLE')
  uncovered=$(($(grep -cE '^ *NOT COVERED ' "$report") - $(grep -c . "$retested")))
  efficacy=$(awk -v k="$killed" -v l="$lived" 'BEGIN { if (k + l) printf "%.2f%%", 100 * k / (k + l); else print "-" }')
  coverage=$(awk -v k="$killed" -v l="$lived" -v u="$uncovered" 'BEGIN { if (k + l + u) printf "%.2f%%", 100 * (k + l) / (k + l + u); else print "-" }')
  printf '%-12s %7s %6s %12s %9s %10s %9s %9s%s\n' "$p" "$killed" "$lived" "$uncovered" "$timedout" "$notviable" "$efficacy" "$coverage" "$note" >>"$summary"
  # Every mutant that lived, then every one not tested (neither gremlins
  # nor the retest reached it), with the line it changed.
  {
    grep -hE '^ *LIVED ' "$report" "$retested"
    decided=$(sed -E 's/^ *(KILLED|LIVED|TIMED OUT|NOT VIABLE) //' "$retested")
    grep -E '^ *NOT COVERED ' "$report" | while read -r line; do
      grep -qxF -- "${line#NOT COVERED }" <<<"$decided" || echo "$line"
    done
  } | sed -E 's/^ *(LIVED|NOT COVERED) ([A-Z_]+) at (.*)$/\1|\2|\3/' | while IFS='|' read -r status kind where; do
    file=${where%%:*} rest=${where#*:} line=${rest%%:*}
    printf '  %-11s %-22s %s/%s  %s\n' "$status" "$kind" "internal/$p" "$where" "$(sed -n "${line}p" "internal/$p/$file" | sed -E 's/^[[:space:]]+//')"
  done >>"$summary"
done

echo
echo "== mutation testing ($total budget, $workers workers)"
cat "$summary"
