#!/usr/bin/env bash
# Installs, when missing, the Debian packages and Go tools the tests use:
# the Docker engine, the CNCF registry, skopeo, the AWS CLI, crane and actionlint.
set -euo pipefail

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

# Go tools: crane (a peer in the push benchmark) and actionlint (lints
# action.yml and the workflows). Installed from the Go module proxy.
gobin=$(go env GOPATH)/bin
export PATH="$gobin:$PATH"
command -v crane >/dev/null 2>&1 || go install github.com/google/go-containerregistry/cmd/crane@v0.22.1
command -v actionlint >/dev/null 2>&1 || go install github.com/rhysd/actionlint/cmd/actionlint@v1.7.12
