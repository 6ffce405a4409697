#!/usr/bin/env bash
# Benchmarks, beside the peer tools, never as timed tests. Installs what is
# missing, starts the test services (a Docker engine and a registry of its
# own), runs each section, and stops what it started.
#
#   scripts/bench.sh            every section
#   scripts/bench.sh push       one section
#
# Each section is a function bench_<name>; add a new benchmark as a new
# function and list it in SECTIONS.
set -euo pipefail
cd "$(dirname "$0")/.."

SECTIONS=(push shelljob watch)

# push: one image (5 incompressible layers of 20 MB and one compressible
# layer of 100 MB) pushed to the same real registry by our push (through the
# sandbox's ECR front), docker push, skopeo copy and crane push, alternating,
# BENCH_RUNS runs each: medians and ratios for a cold push (new repository)
# and a warm re-push (everything there), and our peak memory, also for an
# image of BENCH_BIG_MB. Targets: cold <= 0.35x docker push, warm <= 1.0x,
# peak memory for the 1 GB image <= 64 MB.
# Then, in time and registry round trips: a two-platform index already in
# the repository tagged again by our docker:// push against crane copy and
# skopeo copy --all of the same reference (target <= 0.5x both), and a
# two-platform OCI layout pushed by us against skopeo copy --all, crane push
# and crane push + crane index append (docker buildx imagetools create needs
# buildx, which Debian's docker.io lacks). BENCH_PUSH_SECTIONS=registry runs
# only these.
bench_push() {
  echo "== bench: push"
  go build -o "$BENCH_BIN/push" ./bench/push
  "$BENCH_BIN/push" -runs "${BENCH_RUNS:-5}" -big-mb "${BENCH_BIG_MB:-1024}" -sections "${BENCH_PUSH_SECTIONS:-push,registry}"
}

# shelljob: the deploy job this action replaces (Debian's AWS CLI and docker:
# get-login-password | docker login, docker push, update-service
# --force-new-deployment, wait services-stable) against the action doing the
# same deploy with force-new-deployment and in its default mode, against the
# standalone sandbox with the same image and a 20 s rollout, alternating,
# BENCH_RUNS runs each: medians, ratios, the binary's start-to-first-request
# time and the image size.
bench_shelljob() {
  echo "== bench: shelljob"
  go build -o "$BENCH_BIN/shelljob" ./bench/shelljob
  "$BENCH_BIN/shelljob" -runs "${BENCH_RUNS:-5}" -rollout-seconds "${BENCH_ROLLOUT_SECONDS:-20}"
}

# watch: the time from the sandbox marking our deployment complete (its
# service deployment's finishedAt) to our watcher returning, against the same
# rollout watched by Debian's `aws ecs wait services-stable`, BENCH_RUNS runs
# each: medians and the ratio (target <= 0.25); then BENCH_SERVICES services
# deployed in one run against one service, each with its own task definition
# family, under the sandbox's default ECS throttling: wall-time ratio (target
# <= 1.5) and the errors met (target 0). Between them, BENCH_CANARY_RUNS
# CANARY deployments (10% for a minute, then all, then a minute's bake),
# each watched by ours and by `aws ecs wait services-stable` at once: the
# time from the last stage's end to our watcher returning (target <= 1 s
# median) and each watcher's API calls per minute of watching.
bench_watch() {
  echo "== bench: watch"
  go build -o "$BENCH_BIN/watch" ./bench/watch
  "$BENCH_BIN/watch" -runs "${BENCH_RUNS:-5}" -services "${BENCH_SERVICES:-20}" \
    -fanout-rollout-seconds "${BENCH_FANOUT_ROLLOUT_SECONDS:-30}" -canary-runs "${BENCH_CANARY_RUNS:-3}"
}

bash scripts/install-deps.sh
# Go-installed tools (crane, actionlint), then Debian's packages ahead of any
# other installation of the same tool (the AWS CLI the tests and benchmarks
# use is Debian's awscli 2).
export PATH="$(go env GOPATH)/bin:/usr/bin:$PATH"

# shellcheck source=/dev/null
source scripts/services.sh
services_start
BENCH_BIN=$(mktemp -d)
trap 'services_stop; rm -rf "$BENCH_BIN"' EXIT

run=("$@")
[ ${#run[@]} -gt 0 ] || run=("${SECTIONS[@]}")
for section in "${run[@]}"; do
  if ! declare -F "bench_$section" >/dev/null; then
    echo "unknown benchmark section: $section (have: ${SECTIONS[*]})" >&2
    exit 2
  fi
  "bench_$section"
done
