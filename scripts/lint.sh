#!/usr/bin/env bash
# Lints the repository with golangci-lint (.golangci.yml says which linters
# and why), installing the pinned version when it is missing. Then lints the
# action's build too: files under //go:build action are only seen with its
# tags (its tests are the command-line build's, so they are left out there).
# Runs may overlap (several checkouts on one machine): golangci-lint's lock
# would refuse the second one, and its cache is safe to share.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh golangci-lint
export PATH="$(go env GOPATH)/bin:$PATH"

echo "== golangci-lint"
golangci-lint run --allow-parallel-runners ./...
echo "== golangci-lint (the action's build)"
golangci-lint run --allow-parallel-runners --tests=false --build-tags action,nethttpomithttp2 . ./internal/cli/...
