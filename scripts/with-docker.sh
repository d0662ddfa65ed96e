#!/usr/bin/env bash
# Runs the command given as arguments with a Docker engine. The engine is the one at
# $OMNI_DOCKER_SOCKET (else /var/run/docker.sock) when it answers; otherwise a private one is
# started with scripts/docker-engine.sh, exported as OMNI_DOCKER_SOCKET for the command, and
# stopped and removed afterwards, whatever happens. When neither is possible the command still
# runs and reports the missing engine in its own words.
#
#   scripts/with-docker.sh node cmd/omni.ts image build      (what `make image` runs)
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
log() { printf '[with-docker] %s\n' "$*" >&2; }

engine_dir=""
cleanup() {
  if [ -n "$engine_dir" ]; then
    log "stopping the private Docker engine"
    "$root/scripts/docker-engine.sh" stop "$engine_dir" >/dev/null 2>&1 || log "could not stop the engine in $engine_dir cleanly"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

answers() {
  [ -S "$1" ] && command -v curl >/dev/null && curl -fsS --max-time 2 --unix-socket "$1" http://engine/_ping >/dev/null 2>&1
}

sock=${OMNI_DOCKER_SOCKET:-/var/run/docker.sock}
if ! answers "$sock"; then
  engine_dir=$(mktemp -d /tmp/omni-docker.XXXXXX)
  engine_log=$(mktemp)
  if started=$("$root/scripts/docker-engine.sh" start "$engine_dir" 2> "$engine_log"); then
    export OMNI_DOCKER_SOCKET="$started"
    log "no Docker engine answers at $sock: started a private one at $started (stopped after the run)"
  else
    reason=$(grep '^\[docker-engine\]' "$engine_log" | tail -1 | sed 's/^\[docker-engine\] //')
    log "no Docker engine answers at $sock and a private one did not start (${reason:-see scripts/docker-engine.sh}): running without one"
    "$root/scripts/docker-engine.sh" stop "$engine_dir" >/dev/null 2>&1
    engine_dir=""
  fi
  rm -f "$engine_log"
fi

"$@"
