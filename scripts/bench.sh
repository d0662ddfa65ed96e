#!/usr/bin/env bash
# Runs the bench command given as arguments with a Docker engine for the container plugin row,
# through scripts/with-docker.sh (the engine at $OMNI_DOCKER_SOCKET, else a private one it starts
# and stops). When none can start, the bench still runs and reports that row as skipped, with the
# reason. No engine is sought when --docker-socket is given or the plugins scenario is not run.
#
#   scripts/bench.sh node cmd/omni.ts bench [options]      (what `make bench` runs)
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

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

# scripts/with-docker.sh finds or starts the engine (and stops one it started)
if [ "$need_engine" = yes ]; then exec "$root/scripts/with-docker.sh" "$@"; fi
exec "$@"
