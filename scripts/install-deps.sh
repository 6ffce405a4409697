#!/usr/bin/env bash
# Installs, when missing, the Debian packages and Go tools the tests use:
# the Docker engine, the CNCF registry, skopeo, the AWS CLI, crane,
# actionlint and golangci-lint. With arguments, only the Go tools named
# (scripts/lint.sh asks for golangci-lint alone).
set -euo pipefail

# The pinned linter; .golangci.yml is written for its v2 format.
golangci_lint_version=2.15.0

gobin=$(go env GOPATH)/bin
export PATH="$gobin:$PATH"

install_golangci_lint() {
  if [ "$(golangci-lint version --short 2>/dev/null || true)" != "$golangci_lint_version" ]; then
    echo "== installing golangci-lint v$golangci_lint_version"
    go install "github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v$golangci_lint_version"
  fi
}

if [ $# -gt 0 ]; then
  for tool in "$@"; do
    case "$tool" in
      golangci-lint) install_golangci_lint ;;
      *) echo "install-deps: unknown tool $tool" >&2; exit 2 ;;
    esac
  done
  exit 0
fi

need=()
command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
[ -x /usr/bin/docker-registry ] || need+=(docker-registry)
command -v skopeo >/dev/null 2>&1 || need+=(skopeo)
command -v curl >/dev/null 2>&1 || need+=(curl)
[ -x /usr/bin/aws ] || need+=(awscli)
if [ ${#need[@]} -gt 0 ]; then
  echo "== installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# Go tools: crane (a peer in the push benchmark), actionlint (lints
# action.yml and the workflows) and golangci-lint (scripts/lint.sh).
# Installed from the Go module proxy.
command -v crane >/dev/null 2>&1 || go install github.com/google/go-containerregistry/cmd/crane@v0.22.1
command -v actionlint >/dev/null 2>&1 || go install github.com/rhysd/actionlint/cmd/actionlint@v1.7.12
install_golangci_lint
