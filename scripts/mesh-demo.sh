#!/usr/bin/env bash
# make mesh-demo: a hub and two leaves of cluster `a` on loopback, each an `omni up --mesh`.
# A pipeline on leaf a2 takes `cluster` events from the mesh; leaf a1 raises one `cluster` and
# one `local` event through its API. The demo shows a2 processed the cluster one (origin a1) and
# never saw the local one, then prints `omni mesh status` of every node. Everything runs in a temp
# folder, every process it starts is stopped by its PID at the end, on failure and on Ctrl-C.
# MESH_DEMO_KEEP=1 keeps the folder (logs, data) for a look afterwards.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OMNI=(node --no-warnings=ExperimentalWarning "$ROOT/cmd/omni.ts")
WORK="$(mktemp -d "${TMPDIR:-/tmp}/omni-mesh-demo.XXXXXX")"
# how long any one wait may take: the demo ends by itself even when something never comes up
WAIT_S=60
PIDS=()

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
fail() { printf '\nmesh-demo FAILED: %s\n(logs in %s; kept)\n' "$*" "$WORK" >&2; MESH_DEMO_KEEP=1; exit 1; }

cleanup() {
  local code=$?
  trap - EXIT INT TERM
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  # omni up drains and stops its own nats-server on SIGTERM; a bounded wait, then SIGKILL
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  if [[ "${MESH_DEMO_KEEP:-}" == 1 ]]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
  exit "$code"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { node -e "const s=require('node:net').createServer();s.listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"; }


HUB_LEAF_PORT=$(free_port)
declare -A NATS_PORT API_PORT
for n in hub-a a1 a2; do NATS_PORT[$n]=$(free_port); API_PORT[$n]=$(free_port); done

say "writing the mesh manifests, credentials and apps under $WORK"
mkdir -p "$WORK/mesh"
# the logins the leaves use at the hub (the hub's manifest lists the same files)
"${OMNI[@]}" mesh credentials a1 --out "$WORK/mesh/a1.json"
"${OMNI[@]}" mesh credentials a2 --out "$WORK/mesh/a2.json"
cat >"$WORK/mesh/hub-a.yaml" <<EOF
kind: Mesh
node: hub-a
cluster: a
role: hub
hubs: []
listen: 127.0.0.1:$HUB_LEAF_PORT
members:
  - { node: a1, cluster: a, credentials: a1.json }
  - { node: a2, cluster: a, credentials: a2.json }
peers:
  - { node: a1, cluster: a }
  - { node: a2, cluster: a }
EOF
for leaf in a1 a2; do
  other=$([[ $leaf == a1 ]] && echo a2 || echo a1)
  cat >"$WORK/mesh/$leaf.yaml" <<EOF
kind: Mesh
node: $leaf
cluster: a
role: leaf
hubs: [nats-leaf://127.0.0.1:$HUB_LEAF_PORT]
credentials: $leaf.json
peers:
  - { node: $other, cluster: a }
  - { node: hub-a, cluster: a }
EOF
done

# the same catalog on every node: ping.sent may travel as far as the cluster, a producer may keep it local
for n in hub-a a1 a2; do
  mkdir -p "$WORK/$n/manifests/pipelines"
  cat >"$WORK/$n/manifests/catalog.yaml" <<'EOF'
kind: EventCatalog
producer: demo
events:
  - type: ping.sent
    version: 1
    visibility: cluster
    required: [text]
    schema:
      properties:
        text: { type: string }
    idempotency: [data.text]
  - type: ping.seen
    version: 1
    visibility: local
    idempotency: [data.text]
EOF
done
# on a2 only: a pipeline fed by the cluster's ping.sent events, received over the mesh
cat >"$WORK/a2/manifests/pipelines/demo.yaml" <<'EOF'
kind: Pipeline
name: mesh-demo
sources:
  - { mesh: cluster, types: [ping.sent] }
stages:
  - id: mark
    uses: transform.enrich
    with:
      set: { seenBy: a2 }
outputs:
  - subject: omni.evt.demo.ping-seen.v1
EOF

start_node() {
  local n=$1
  say "starting $n (NATS 127.0.0.1:${NATS_PORT[$n]}, API 127.0.0.1:${API_PORT[$n]})"
  "${OMNI[@]}" up --mesh "$WORK/mesh/$n.yaml" --data "$WORK/$n/data" --manifests "$WORK/$n/manifests" \
    --port "${NATS_PORT[$n]}" --api-port "${API_PORT[$n]}" --no-clickhouse --no-watch >"$WORK/$n.log" 2>&1 &
  PIDS+=("$!")
  local pid=$! deadline=$((SECONDS + WAIT_S))
  until curl -fsS "http://127.0.0.1:${API_PORT[$n]}/readyz" >/dev/null 2>&1; do
    kill -0 "$pid" 2>/dev/null || { tail -n 20 "$WORK/$n.log" >&2; fail "$n exited while starting"; }
    ((SECONDS < deadline)) || fail "$n was not ready within ${WAIT_S}s"
    sleep 0.5
  done
  echo "$n is up (pid $pid)"
}

nats_of() { echo "nats://127.0.0.1:${NATS_PORT[$1]}"; }
omni_on() { local n=$1; shift; "${OMNI[@]}" --nats-credentials "$WORK/$n/data/nats-credentials" "$@"; }
# the events a node stored on a subject so far (tail follows forever: bounded by timeout)
stored() { local n=$1 subject=$2; shift 2; timeout 6 "${OMNI[@]}" --nats-credentials "$WORK/$n/data/nats-credentials" tail --all --json --nats "$(nats_of "$n")" "$@" "$subject" 2>/dev/null || true; }

start_node hub-a
start_node a1
start_node a2

say "a1 raises a cluster event and a local one through its API"
TOKEN=$(cat "$WORK/a1/data/api-token")
raise() {
  curl -fsS -X POST "http://127.0.0.1:${API_PORT[a1]}/v1/events" -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' \
    -H 'ce-specversion: 1.0' -H "ce-id: demo-$1" -H 'ce-source: demo://a1' -H 'ce-type: ping.sent' -H "ce-visibility: $1" \
    -d "{\"text\":\"a $1 ping from a1\"}"
  echo
}
raise cluster
raise local

say "waiting for a2's pipeline to process the cluster event"
deadline=$((SECONDS + WAIT_S))
until [[ -n "$(stored a2 omni.evt.demo.ping-seen.v1 -n 1)" ]]; do
  ((SECONDS < deadline)) || fail "a2's pipeline produced nothing within ${WAIT_S}s"
  sleep 1
done
received=$(stored a2 'omni.rcv.>')
seen=$(stored a2 omni.evt.demo.ping-seen.v1)
echo "received by a2 (omni.rcv.>):"; echo "$received"
echo "produced by a2's pipeline (omni.evt.demo.ping-seen.v1):"; echo "$seen"
node -e '
  const [received, seen] = process.argv.slice(1).map((t) => t.split("\n").filter(Boolean).map((l) => JSON.parse(l)))
  const texts = received.map((e) => e.data?.text)
  const problems = []
  if (!received.some((e) => e.data?.text === "a cluster ping from a1" && e.origin === "a1")) problems.push("the cluster event did not arrive at a2 with origin a1")
  if (texts.includes("a local ping from a1")) problems.push("the LOCAL event reached a2")
  if (!seen.some((e) => e.data?.seenBy === "a2")) problems.push("the pipeline on a2 did not process it")
  if (problems.length) { console.error(problems.join("\n")); process.exit(1) }
  console.log("OK: the cluster event reached a2 (origin a1) and its pipeline processed it; the local event stayed on a1")
' "$received" "$seen" || fail "the events did not travel as they should"
echo "a1 still holds both (its own events stream):"
stored a1 omni.evt.demo.ping-sent.v1

for n in hub-a a1 a2; do
  say "omni mesh status of $n"
  omni_on "$n" mesh status --nats "$(nats_of "$n")"
done
say "done; stopping everything"
