// The ledger across the mesh (scenarios 13 and 14): events are sent to a platform on leaf a1 as
// `cluster` events; a platform on leaf a2 receives them over hub-a, runs the ledger pipeline on
// them (source `{ mesh: cluster, types: [ledger.tick] }`) and records them in its ClickHouse.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream'
import type { NatsConnection } from '@nats-io/transport-node'
import { connectNats } from '../../src/jetstream/connect.ts'
import { ensureStreams, EVENTS_STREAM } from '../../src/jetstream/topology.ts'
import { loadManifestsOrThrow } from '../../src/manifests/load.ts'
import { receivedSubject } from '../../src/wire/mod.ts'
import { startMeshServers, type MeshServers } from '../lib/mesh-servers.ts'
import { ledgerLookup } from './cartridges.ts'
import { OUTPUT, PIPELINE, SOURCE } from './reconcile.ts'

const FIXTURES = fileURLToPath(new URL('./fixtures/', import.meta.url))

/** Where a2 keeps the copies of a1's ledger events it admitted. */
export const MESH_RECEIVED = receivedSubject('cluster', 'a', 'a1', SOURCE)

/** The ledger pipeline on a2: the same stages, its source the cluster's ledger events. */
export const MESH_PIPELINE = `kind: Pipeline
name: ${PIPELINE}
description: dedup → poison check → one output, on ledger events received from the cluster, for omni verify ledger.
sources:
  - { mesh: cluster, types: [ledger.tick] }
errorPolicy:
  maxDeliveries: 3
  backoff: [50ms]
stages:
  - id: dedup
    uses: guard.dedup
  - id: check
    uses: ledger.poison
    needs: [dedup]
outputs:
  - subject: ${OUTPUT}
`

/** The sender's and the receiver's manifest folders under `dir`; the ledger type may travel the cluster. */
export function writeMeshManifests(dir: string): { sender: string; receiver: string } {
  const catalog = readFileSync(join(FIXTURES, 'catalog.yaml'), 'utf8').replace('visibility: local', 'visibility: cluster')
  if (!catalog.includes('visibility: cluster')) throw new Error('the ledger catalog fixture should declare `visibility: local` for the mesh variant to raise')
  const sender = join(dir, 'manifests-a1')
  const receiver = join(dir, 'manifests-a2')
  mkdirSync(sender, { recursive: true })
  mkdirSync(join(receiver, 'pipelines'), { recursive: true })
  writeFileSync(join(sender, 'catalog.yaml'), catalog)
  writeFileSync(join(receiver, 'catalog.yaml'), catalog)
  writeFileSync(join(receiver, 'pipelines', 'ledger.yaml'), MESH_PIPELINE)
  return { sender, receiver }
}

/**
 * Whether this build's pipelines take mesh sources (the data path of issue 13, part B). Until
 * they do, the mesh scenarios cannot run and say so instead of failing somewhere deeper.
 */
export async function meshSourcesSupported(dir: string): Promise<{ ok: true } | { ok: false; why: string }> {
  const { receiver } = writeMeshManifests(dir)
  try {
    await loadManifestsOrThrow(receiver, ledgerLookup)
    return { ok: true }
  } catch (err) {
    return { ok: false, why: err instanceof Error ? err.message.split('\n')[0] ?? '' : String(err) }
  }
}

/** The servers, connections and manifests a mesh scenario runs on. */
export interface MeshLedger {
  readonly servers: MeshServers
  readonly manifests: { readonly sender: string; readonly receiver: string }
  /** the harness's connection to a1, where it sends */
  readonly sender: { readonly nc: NatsConnection; readonly js: JetStreamClient; readonly jsm: JetStreamManager }
  /** the harness's connection to a2, where it reads what the pipeline did */
  readonly receiver: { readonly nc: NatsConnection; readonly js: JetStreamClient; readonly jsm: JetStreamManager }
  /** a2's admitted copies of this run's events (counted in its events stream) */
  received(): Promise<number>
  close(): Promise<void>
}

/** Starts hub-a, a1 and a2, and makes each leaf's streams as the operator does. */
export async function openMeshLedger(dir: string): Promise<MeshLedger> {
  const servers = await startMeshServers({ dir: join(dir, 'nats') })
  const conns: NatsConnection[] = []
  try {
    const open = async (url: string, name: string) => {
      const nc = await connectNats(url, { name, credentials: servers.platform })
      conns.push(nc)
      const jsm = await jetstreamManager(nc)
      await ensureStreams(jsm)
      return { nc, js: jetstream(nc), jsm }
    }
    const sender = await open(servers.a1.url, 'omni-ledger-a1')
    const receiver = await open(servers.a2.url, 'omni-ledger-a2')
    const manifests = writeMeshManifests(dir)
    return {
      servers,
      manifests,
      sender,
      receiver,
      received: async () => {
        const info = await receiver.jsm.streams.info(EVENTS_STREAM, { subjects_filter: MESH_RECEIVED }).catch(() => undefined)
        return Object.values(info?.state.subjects ?? {}).reduce((a, b) => a + b, 0)
      },
      close: async () => {
        for (const nc of conns) await nc.close().catch(() => undefined)
        await servers.close()
      },
    }
  } catch (err) {
    for (const nc of conns) await nc.close().catch(() => undefined)
    await servers.close()
    throw err
  }
}
