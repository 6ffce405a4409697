#!/usr/bin/env bash
# Runs every test on a fresh Debian machine: installs what is missing, starts
# a Docker engine and a registry of its own, runs go vet, golangci-lint and
# the race-enabled test suite, and stops what it started.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
# Go-installed tools (crane, actionlint), then Debian's packages ahead of any
# other installation of the same tool (the AWS CLI the tests and benchmarks
# use is Debian's awscli 2).
export PATH="$(go env GOPATH)/bin:/usr/bin:$PATH"

# shellcheck source=/dev/null
source scripts/services.sh
services_start
trap services_stop EXIT

echo "== go vet"
go vet ./...
bash scripts/lint.sh
echo "== go test -race"
go test -race -count=1 -timeout 40m -skip '^TestFaultMatrix$' ./... "$@"
# The fault matrix on its own, verbose, so that its counts reach the log.
echo "== fault matrix"
matrix_log=$(mktemp)
if ! go test -race -count=1 -timeout 20m -run '^TestFaultMatrix$' -v ./internal/cli >"$matrix_log" 2>&1; then
  cat "$matrix_log"; rm -f "$matrix_log"; exit 1
fi
grep -E 'fault matrix:' "$matrix_log"; rm -f "$matrix_log"
