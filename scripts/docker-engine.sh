#!/usr/bin/env bash
# Starts or stops a private Docker engine whose every file lives under one folder, for the
# container sandbox tests and local development. Nothing of the machine's own Docker set-up
# (if any) is used or touched: own socket, data root, exec root, pid file, config file.
#
#   scripts/docker-engine.sh start <dir>   prints the engine's socket path on stdout
#   scripts/docker-engine.sh stop <dir>    stops that engine and removes <dir>
#
# Needs root (dockerd does). Messages go to stderr; the exit status says whether it worked.
set -euo pipefail
log() { printf '[docker-engine] %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

cmd=${1:-}
dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || die "usage: $0 start|stop <dir>"
case "$dir" in /*) ;; *) dir="$(pwd)/$dir" ;; esac
dir=${dir%/}
[ "$dir" != "" ] && [ "$dir" != "/" ] || die "refusing to use / as the engine folder"

sock="$dir/docker.sock"
pidfile="$dir/dockerd.pid"
logfile="$dir/dockerd.log"
exec_root="$dir/exec"
# dockerd runs its own containerd and writes that one's pid here
containerd_pidfile="$exec_root/containerd/containerd.pid"

alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }

ping_engine() {
  curl -fsS --max-time 2 --unix-socket "$sock" http://engine/_ping >/dev/null 2>&1
}

# waits up to $2 tenths of a second for pid $1 to exit
wait_gone() {
  local pid=$1 n=$2
  while alive "$pid" && [ "$n" -gt 0 ]; do sleep 0.1; n=$((n - 1)); done
  ! alive "$pid"
}

# containerd shims outlive containerd on purpose; ours are the ones whose command line names
# this engine's containerd socket, which lives under <dir>
our_shims() {
  local p
  for p in /proc/[0-9]*; do
    tr '\0' ' ' < "$p/cmdline" 2>/dev/null | grep -q -- "-address $exec_root/containerd/" && echo "${p#/proc/}"
  done
  return 0
}

start() {
  [ "$(id -u)" -eq 0 ] || die "dockerd needs root (running as uid $(id -u))"
  local dockerd
  dockerd=$(command -v dockerd || true)
  [ -n "$dockerd" ] || { [ -x /usr/sbin/dockerd ] && dockerd=/usr/sbin/dockerd; } || die "dockerd is not installed (scripts/setup.sh installs docker.io)"
  command -v curl >/dev/null || die "curl is needed to check that the engine answers"
  # a Unix socket path longer than 107 bytes cannot be bound
  [ "${#sock}" -lt 100 ] || die "the socket path $sock is too long for a Unix socket; use a shorter folder"
  if [ -f "$pidfile" ] && alive "$(cat "$pidfile")"; then
    ping_engine && { echo "$sock"; return 0; }
    die "an engine already runs from $dir (pid $(cat "$pidfile")) but does not answer"
  fi
  mkdir -p "$dir/data" "$exec_root"
  echo '{}' > "$dir/daemon.json"
  # iptables/bridge off: sandbox containers run with --network none and need neither, and the
  # machine's firewall rules stay untouched
  "$dockerd" \
    --config-file "$dir/daemon.json" \
    --iptables=false --ip6tables=false --ip-forward=false --ip-masq=false --bridge=none \
    --userland-proxy=false --storage-driver=overlay2 --shutdown-timeout 2 --log-level warn \
    --data-root "$dir/data" --exec-root "$exec_root" --pidfile "$pidfile" \
    -H "unix://$sock" > "$logfile" 2>&1 &
  local pid=$! n=300
  while [ "$n" -gt 0 ]; do
    ping_engine && { log "engine up (pid $pid), socket $sock"; echo "$sock"; return 0; }
    alive "$pid" || { tail -20 "$logfile" >&2; die "dockerd exited before answering"; }
    sleep 0.1
    n=$((n - 1))
  done
  tail -20 "$logfile" >&2
  kill -TERM "$pid" 2>/dev/null || true
  die "dockerd did not answer on $sock within 30 s"
}

stop() {
  [ -d "$dir" ] || { log "nothing to stop: $dir does not exist"; return 0; }
  local pid="" cpid="" shims
  [ -f "$pidfile" ] && pid=$(cat "$pidfile")
  [ -f "$containerd_pidfile" ] && cpid=$(cat "$containerd_pidfile")
  shims=$(our_shims)
  if alive "$pid" && ping_engine; then
    # containers left running would make dockerd's own shutdown wait for each of them
    local id
    for id in $(curl -fsS --max-time 5 --unix-socket "$sock" 'http://engine/containers/json?all=1' 2>/dev/null | grep -oE '"Id":"[0-9a-f]{64}"' | cut -d'"' -f4); do
      curl -fsS --max-time 10 -X DELETE --unix-socket "$sock" "http://engine/containers/$id?force=1&v=1" >/dev/null 2>&1 || true
    done
  fi
  if alive "$pid"; then
    # TERM lets dockerd stop its containerd; KILL only when it hangs
    kill -TERM "$pid"
    wait_gone "$pid" 150 || { log "dockerd $pid ignored TERM: killing it"; kill -KILL "$pid" 2>/dev/null || true; wait_gone "$pid" 50 || true; }
  fi
  if alive "$cpid"; then
    kill -TERM "$cpid"
    wait_gone "$cpid" 50 || { kill -KILL "$cpid" 2>/dev/null || true; wait_gone "$cpid" 20 || true; }
  fi
  for s in $shims $(our_shims); do
    alive "$s" && kill -KILL "$s" 2>/dev/null || true
  done
  # overlay, shm and netns mounts the engine left behind, deepest first
  awk -v d="$dir/" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo | sort -r | while read -r m; do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || log "could not unmount $m"
  done
  rm -rf "$dir"
  log "engine stopped, $dir removed"
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  *) die "unknown command $cmd (start|stop)" ;;
esac
