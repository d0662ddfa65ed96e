#!/usr/bin/env bash
# Runs the bench command given as arguments with a Docker engine for the container plugin row.
# The engine is the one at $OMNI_DOCKER_SOCKET (else /var/run/docker.sock) when it answers;
# otherwise a private one is started with scripts/docker-engine.sh, exported as
# OMNI_DOCKER_SOCKET for the command, and stopped and removed afterwards, whatever happens.
# When neither is possible the bench still runs and reports that row as skipped, with the reason.
#
#   scripts/bench.sh node cmd/omni.ts bench [options]      (what `make bench` runs)
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
log() { printf '[bench] %s\n' "$*" >&2; }

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

# no engine is needed when the socket is given outright or the plugins scenario is not run
need_engine=yes
only=""
prev=""
for a in "$@"; do
  case "$a" in
    --docker-socket | --docker-socket=*) need_engine=no ;;
    --only=*) only=${a#--only=} ;;
  esac
  [ "$prev" = "--only" ] && only=$a
  prev=$a
done
if [ -n "$only" ] && ! [[ ",$only," =~ ,[[:space:]]*plugins[[:space:]]*, ]]; then need_engine=no; fi

sock=${OMNI_DOCKER_SOCKET:-/var/run/docker.sock}
if [ "$need_engine" = yes ] && ! answers "$sock"; then
  engine_dir=$(mktemp -d /tmp/omni-docker.XXXXXX)
  engine_log=$(mktemp)
  if started=$("$root/scripts/docker-engine.sh" start "$engine_dir" 2> "$engine_log"); then
    export OMNI_DOCKER_SOCKET="$started"
    log "no Docker engine answers at $sock: started a private one at $started (stopped after the run)"
  else
    reason=$(grep '^\[docker-engine\]' "$engine_log" | tail -1 | sed 's/^\[docker-engine\] //')
    log "no Docker engine answers at $sock and a private one did not start (${reason:-see scripts/docker-engine.sh}): the container plugin row will be skipped"
    "$root/scripts/docker-engine.sh" stop "$engine_dir" >/dev/null 2>&1
    engine_dir=""
  fi
  rm -f "$engine_log"
fi

"$@"
