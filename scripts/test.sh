#!/usr/bin/env bash
# Runs every test on a fresh Debian machine: installs what is missing, starts
# a Docker engine and a registry of its own, runs go vet and the race-enabled
# test suite, and stops what it started.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
export PATH="$(go env GOPATH)/bin:$PATH"

# shellcheck source=/dev/null
source scripts/services.sh
services_start
trap services_stop EXIT

echo "== go vet"
go vet ./...
echo "== go test -race"
go test -race -count=1 -timeout 40m ./... "$@"
