#!/usr/bin/env bash
# Sourced by scripts/test.sh and scripts/bench.sh: services_start starts a
# Docker engine and a registry of the tests' own and exports where they are;
# services_stop stops them. Each service is started only when it is not
# already running (a second sourcing, or a developer's long-lived set, reuses
# what is there), and services_stop stops only what this shell started.
#
# Exports:
#   OIDC_ECS_DEPLOY_TEST_DOCKER_HOST  unix:// socket of the Docker engine
#   OIDC_ECS_DEPLOY_TEST_REGISTRY     127.0.0.1:PORT of the CNCF registry (plain HTTP)

SERVICES_DIR=${SERVICES_DIR:-/tmp/oidc-ecs-deploy-test}
SERVICES_REGISTRY_PORT=${SERVICES_REGISTRY_PORT:-5099}

# PIDs of what this shell started; services_stop stops only these.
_services_started_dockerd=
_services_started_registry=

_services_log() { echo "== services: $*" >&2; }

# _services_wait runs "$@" until it succeeds, for at most $1 seconds.
_services_wait() {
  local seconds=$1
  shift
  local i
  for ((i = 0; i < seconds * 4; i++)); do
    if "$@" >/dev/null 2>&1; then
      return 0
    fi
    sleep 0.25
  done
  return 1
}

_services_docker_up() {
  DOCKER_HOST="unix://$SERVICES_DIR/docker.sock" docker info
}

_services_registry_up() {
  curl -fsS "http://127.0.0.1:$SERVICES_REGISTRY_PORT/v2/" ||
    (exec 3<>"/dev/tcp/127.0.0.1/$SERVICES_REGISTRY_PORT" && printf 'GET /v2/ HTTP/1.0\r\n\r\n' >&3 && grep -q '200 OK' <&3)
}

_services_start_docker() {
  if _services_docker_up >/dev/null 2>&1; then
    _services_log "Docker engine already running on $SERVICES_DIR/docker.sock"
    return 0
  fi
  if ! command -v dockerd >/dev/null 2>&1; then
    _services_log "dockerd is not installed (run scripts/install-deps.sh)"
    return 1
  fi
  mkdir -p "$SERVICES_DIR/docker" "$SERVICES_DIR/docker-exec"
  rm -f "$SERVICES_DIR/docker.sock" "$SERVICES_DIR/docker.pid"
  # vfs needs no kernel overlay support, and without iptables or a bridge
  # the engine touches nothing of the host's network: builds of COPY-only
  # Dockerfiles need neither.
  dockerd \
    --host "unix://$SERVICES_DIR/docker.sock" \
    --data-root "$SERVICES_DIR/docker" \
    --exec-root "$SERVICES_DIR/docker-exec" \
    --pidfile "$SERVICES_DIR/docker.pid" \
    --storage-driver=vfs \
    --iptables=false \
    --bridge=none \
    >"$SERVICES_DIR/dockerd.log" 2>&1 &
  _services_started_dockerd=$!
  if ! _services_wait 60 _services_docker_up; then
    _services_log "the Docker engine did not answer within 60 s; its log:"
    tail -n 30 "$SERVICES_DIR/dockerd.log" >&2
    return 1
  fi
  _services_log "Docker engine started on $SERVICES_DIR/docker.sock (pid $_services_started_dockerd)"
}

_services_start_registry() {
  if _services_registry_up >/dev/null 2>&1; then
    _services_log "registry already running on 127.0.0.1:$SERVICES_REGISTRY_PORT"
    return 0
  fi
  if [ ! -x /usr/bin/docker-registry ]; then
    _services_log "/usr/bin/docker-registry is not installed (run scripts/install-deps.sh)"
    return 1
  fi
  mkdir -p "$SERVICES_DIR/registry"
  cat >"$SERVICES_DIR/registry.yml" <<EOF
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $SERVICES_DIR/registry
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:$SERVICES_REGISTRY_PORT
EOF
  /usr/bin/docker-registry serve "$SERVICES_DIR/registry.yml" >"$SERVICES_DIR/registry.log" 2>&1 &
  _services_started_registry=$!
  if ! _services_wait 30 _services_registry_up; then
    _services_log "the registry did not answer within 30 s; its log:"
    tail -n 30 "$SERVICES_DIR/registry.log" >&2
    return 1
  fi
  _services_log "registry started on 127.0.0.1:$SERVICES_REGISTRY_PORT (pid $_services_started_registry)"
}

services_start() {
  mkdir -p "$SERVICES_DIR"
  _services_start_docker || return 1
  _services_start_registry || return 1
  export OIDC_ECS_DEPLOY_TEST_DOCKER_HOST="unix://$SERVICES_DIR/docker.sock"
  export OIDC_ECS_DEPLOY_TEST_REGISTRY="127.0.0.1:$SERVICES_REGISTRY_PORT"
}

# _services_kill stops one process this shell started and waits for it.
_services_kill() {
  local pid=$1 name=$2
  [ -n "$pid" ] || return 0
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  local i
  for ((i = 0; i < 80; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.25
  done
  if kill -0 "$pid" 2>/dev/null; then
    _services_log "$name (pid $pid) did not stop; killing it"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
  _services_log "$name stopped"
}

services_stop() {
  _services_kill "$_services_started_registry" registry
  _services_started_registry=
  _services_kill "$_services_started_dockerd" "Docker engine"
  _services_started_dockerd=
}
