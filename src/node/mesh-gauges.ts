import { Gauge } from 'prom-client'
import type { MeshStatus } from '../mesh/status.ts'
import { ownGauges } from './gauges.ts'

/** How long one reading of the mesh status serves the gauges of one scrape. */
const SHARED_MS = 500

/**
 * The mesh gauges, read from the node's mesh status when Prometheus scrapes (one reading shared
 * by the four): peer up, source lag, seconds since the last received event, hub link up.
 * Returns what removes them again.
 */
export function registerMeshGauges(status: () => Promise<MeshStatus>): () => void {
  let last: { at: number; reading: Promise<MeshStatus | undefined> } | undefined
  const read = () => {
    if (!last || Date.now() - last.at > SHARED_MS) last = { at: Date.now(), reading: status().catch(() => undefined) }
    return last.reading
  }
  const peerUp = new Gauge({
    name: 'omni_mesh_peer_up',
    help: '1 while a mesh peer says hello, 0 once it missed 3 (absent until first heard from)',
    labelNames: ['peer', 'cluster'],
    registers: [],
    async collect() {
      this.reset()
      for (const p of (await read())?.peers ?? []) if (p.state !== 'unknown') this.set({ peer: p.node, cluster: p.cluster }, p.state === 'up' ? 1 : 0)
    },
  })
  const sourceLag = new Gauge({
    name: 'omni_mesh_source_lag',
    help: "Events a peer's outbox holds that this node's inbox from it has not received yet",
    labelNames: ['peer', 'visibility'],
    registers: [],
    async collect() {
      this.reset()
      for (const i of (await read())?.inboxes ?? []) for (const s of i.sources) this.set({ peer: i.peer, visibility: s.visibility }, s.lag)
    },
  })
  const lastReceived = new Gauge({
    name: 'omni_mesh_last_received_seconds',
    help: 'Seconds since the last event arrived from a peer (absent before the first)',
    labelNames: ['peer'],
    registers: [],
    async collect() {
      this.reset()
      const s = await read()
      if (!s) return
      const now = Date.parse(s.checkedAt)
      for (const i of s.inboxes) if (i.lastReceived) this.set({ peer: i.peer }, Math.max(0, (now - Date.parse(i.lastReceived)) / 1000))
    },
  })
  const linkUp = new Gauge({
    name: 'omni_mesh_link_up',
    help: "1 while the node's leaf link to its hub is up, 0 while down (absent for a hub with no hub of its own, or when unknown)",
    registers: [],
    async collect() {
      this.reset()
      const state = (await read())?.link.state
      if (state === 'up' || state === 'down') this.set(state === 'up' ? 1 : 0)
    },
  })
  return ownGauges([
    { name: 'omni_mesh_peer_up', gauge: peerUp as Gauge },
    { name: 'omni_mesh_source_lag', gauge: sourceLag as Gauge },
    { name: 'omni_mesh_last_received_seconds', gauge: lastReceived as Gauge },
    { name: 'omni_mesh_link_up', gauge: linkUp },
  ])
}
