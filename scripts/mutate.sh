#!/usr/bin/env bash
# Mutation testing of the packages whose mistakes cost users most:
# go-gremlins/gremlins finds each package's mutants (a condition negated, a
# boundary moved, an operator swapped), and internal/tools/mutants tests
# each one against the tests that run its line. A mutant the tests fail is
# killed; one they pass lived: a behaviour no test holds.
#
# gremlins itself would run the package's whole suite for every mutant:
# half a minute for the registry and deploy packages, whose tests push
# through a Docker engine and roll services out, and so hours a package.
# Its dry run gives the mutants untested; the runner measures which tests
# reach each line (one coverage run per test) and runs only those, as a test
# that never runs a line cannot see it change. Where Go's coverage profile
# has no block (a case clause's expression, a package-level initialiser),
# gremlins would call the mutant NOT COVERED and never test it; the runner
# runs the tests of the function around it, or every test outside any.
# The deploy package's mutants are tried against the cli's whole-flow tests
# too, after its own: see also() below.
#
# For each package it prints the efficacy (killed / (killed + lived)) and
# the mutator coverage ((killed + lived) / every mutant: a mutant on code no
# test runs is "not covered"), then every mutant that lived or that no test
# runs, with its line. Not in CI: a full run takes about two hours.
# Settings (environment):
#   MUTATE_TOTAL     the time budget of the whole run, a Go duration of
#                    hours, minutes and seconds (default 4h); each package
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
#   MUTATE_RESUME    the reports of an earlier run (its MUTATE_OUT), e.g.
#                    one its budget cut short: its KILLED, TIMED OUT and
#                    NOT VIABLE verdicts on lines unchanged since its commit
#                    are kept, moved to where those lines are now (tests are
#                    taken to have only grown since); every other mutant,
#                    and every one on a line changed since, is tested
# The registry and deploy tests need a Docker engine and a registry: the
# script starts them as scripts/test.sh does, and stops what it started.
set -uo pipefail
cd "$(dirname "$0")/.."

GREMLINS_VERSION=v0.6.0
total=${MUTATE_TOTAL:-4h}
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

# also names, per package, the test packages whose tests try its mutants
# after its own: the cli's tests run the whole flow, and are the deploy
# package's only tests of what the flow around a rollout does (the one-off
# task, keep-revisions, the platform check, the task-definition file).
also() {
  case $1 in
  deploy) echo internal/cli ;;
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

git rev-parse HEAD >"$out/commit"
if [ -n "${MUTATE_RESUME:-}" ] && [ ! -s "$MUTATE_RESUME/commit" ]; then
  echo "MUTATE_RESUME=$MUTATE_RESUME holds no earlier run's reports (no commit file)"
  exit 2
fi

mutants_bin="$out/mutants"
go build -o "$mutants_bin" ./internal/tools/mutants || exit 1

summary="$out/summary.txt"
printf '%-12s %7s %6s %12s %9s %10s %9s %9s\n' package killed lived "not covered" "timed out" "not viable" efficacy coverage >"$summary"
for p in "${packages[@]}"; do
  share=$((budget * $(weight "$p") / weights))
  deadline=$(($(date +%s) + share))
  report="$out/${p//\//-}-gremlins.txt"
  verdicts="$out/${p//\//-}.txt"
  echo "== internal/$p (budget ${share}s, reports $report and $verdicts)"
  exclude_args=()
  if [ -n "$(excluded "$p")" ]; then exclude_args=(--exclude-files "$(excluded "$p")"); fi
  if ! gremlins unleash "./internal/$p" --dry-run "${diff_args[@]}" "${exclude_args[@]}" >"$report" 2>&1; then
    echo "gremlins could not list the mutants of internal/$p; see $report"
    exit 1
  fi
  # Each mutant's tests time out after the coefficient times what the same
  # tests took unmutated.
  decided_args=()
  if [ -n "${MUTATE_RESUME:-}" ] && [ -f "$MUTATE_RESUME/${p//\//-}.txt" ]; then
    decided_args=(-decided "$MUTATE_RESUME/${p//\//-}.txt" -decided-from "$(cat "$MUTATE_RESUME/commit")")
  fi
  "$mutants_bin" -dir "internal/$p" "${decided_args[@]}" -also "$(also "$p")" -timeout-coefficient 20 -workers "$workers" -parallel "${MUTATE_PARALLEL:-8}" -deadline "$deadline" <"$report" >"$verdicts" 2>"$verdicts.log"
  status=$?
  note=""
  if [ "$status" != 0 ]; then note="  (the runner failed, exit $status; see $verdicts.log)"; fi
  count() { grep -cE "^ *$1 " "$verdicts"; }
  killed=$(count KILLED) lived=$(count LIVED) timedout=$(count 'TIMED OUT') notviable=$(count 'NOT VIABLE') uncovered=$(count 'NOT COVERED')
  untested=$(($(grep -cE '^ *(RUNNABLE|NOT COVERED) ' "$report") - $(grep -c . "$verdicts")))
  if [ "$untested" -gt 0 ]; then note="$note  ($untested mutants not tested: the budget of ${share}s ran out)"; fi
  efficacy=$(awk -v k="$killed" -v l="$lived" 'BEGIN { if (k + l) printf "%.2f%%", 100 * k / (k + l); else print "-" }')
  coverage=$(awk -v k="$killed" -v l="$lived" -v u="$uncovered" 'BEGIN { if (k + l + u) printf "%.2f%%", 100 * (k + l) / (k + l + u); else print "-" }')
  printf '%-12s %7s %6s %12s %9s %10s %9s %9s%s\n' "$p" "$killed" "$lived" "$uncovered" "$timedout" "$notviable" "$efficacy" "$coverage" "$note" >>"$summary"
  # Every mutant that lived or that no test runs, with the line it changed.
  grep -E '^ *(LIVED|NOT COVERED) ' "$verdicts" |
    sed -E 's/^ *(LIVED|NOT COVERED) ([A-Z_]+) at (.*)$/\1|\2|\3/' | while IFS='|' read -r status kind where; do
    file=${where%%:*} rest=${where#*:} line=${rest%%:*}
    printf '  %-11s %-22s %s/%s  %s\n' "$status" "$kind" "internal/$p" "$where" "$(sed -n "${line}p" "internal/$p/$file" | sed -E 's/^[[:space:]]+//')"
  done >>"$summary"
done

echo
echo "== mutation testing ($total budget, $workers workers)"
cat "$summary"
