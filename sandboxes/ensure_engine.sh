#!/usr/bin/env bash
# Make sure a Docker engine answers (for `make setup` / .ci/run on a fresh machine).
#   - an engine already answers (DOCKER_HOST or the default socket): nothing to do;
#   - otherwise, as root: install Debian's docker.io if dockerd is missing, start
#     `dockerd --storage-driver=overlay2` in the background (override: $AGENTBENCH_DOCKERD_ARGS),
#     log to ${AGENTBENCH_CACHE:-<repo>/.cache}/dockerd.log, and wait up to 60 s for it.
set -euo pipefail

die() { echo "ensure_engine.sh: error: $*" >&2; exit 1; }
log() { echo "ensure_engine.sh: $*" >&2; }

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${AGENTBENCH_CACHE:-$(dirname "$HERE")/.cache}"
WAIT_S="${AGENTBENCH_ENGINE_WAIT_S:-60}"
ADDRESS="${DOCKER_HOST:-unix:///var/run/docker.sock}"

engine_ok() { command -v docker >/dev/null 2>&1 && timeout 10 docker info >/dev/null 2>&1; }

if engine_ok; then
    log "Docker engine answers at $ADDRESS"
    exit 0
fi
[[ "$ADDRESS" == unix://* ]] || die "no Docker engine answers at DOCKER_HOST=$ADDRESS; start it there or unset DOCKER_HOST"
[[ "$(id -u)" -eq 0 ]] || die "no Docker engine answers at $ADDRESS and this is not root: start the engine \
(sudo dockerd &, or sudo systemctl start docker), or run this script as root to install and start it"

PATH="$PATH:/usr/sbin:/sbin"
if ! command -v dockerd >/dev/null 2>&1 || ! command -v docker >/dev/null 2>&1; then
    log "installing Debian's docker.io"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends docker.io >/dev/null
fi
command -v dockerd >/dev/null 2>&1 || die "dockerd is still missing after installing docker.io"

mkdir -p "$CACHE"
LOGFILE="$CACHE/dockerd.log"
OFFSET=$(stat -c %s "$LOGFILE" 2>/dev/null || echo 0)
show_log() { tail -c +"$((OFFSET + 1))" "$LOGFILE" | tail -n 30 >&2 || true; }
# shellcheck disable=SC2206
ARGS=(${AGENTBENCH_DOCKERD_ARGS:---storage-driver=overlay2})
[[ "$ADDRESS" == "unix:///var/run/docker.sock" ]] || ARGS+=(--host "$ADDRESS")
log "starting dockerd ${ARGS[*]} (log: $LOGFILE)"
# shellcheck disable=SC2206
PREFIX=(${AGENTBENCH_DOCKERD_PREFIX:-})  # e.g. `unshare --net` for a second engine that must not touch docker0
setsid nohup "${PREFIX[@]}" dockerd "${ARGS[@]}" >>"$LOGFILE" 2>&1 </dev/null &
PID=$!

for _ in $(seq 1 "$((WAIT_S * 2))"); do
    if engine_ok; then
        log "Docker engine started (dockerd pid $PID)"
        exit 0
    fi
    if ! kill -0 "$PID" 2>/dev/null; then
        show_log
        die "dockerd exited while starting (log above)"
    fi
    sleep 0.5
done
show_log
die "dockerd (pid $PID) did not answer within ${WAIT_S} s; it is left running (log above)"
