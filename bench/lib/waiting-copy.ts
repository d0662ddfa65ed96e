// How the mesh bound rows' events wait on leaf A before the servers copy them: shared by the
// scenario (bench/scenarios/mesh-bounds.ts) and the generator child that publishes them, so the
// child needs nothing from the scenarios folder.
import type { Envelope } from '../../src/envelope/schema.ts'
import type { PreparedEvent } from '../../src/ingest/prepare.ts'
import { meshOutboxSubject } from '../../src/wire/mod.ts'
import { MESH_CLUSTER_NAME } from './mesh-servers.ts'

/** How much of the design's path the servers do instead of Omni code (see bench/scenarios/mesh-bounds.ts). */
export type BoundLevel = 'floor' | 'servers' | 'exporter'

const encoder = new TextEncoder()

/**
 * How a level's events wait on A before the copies start: under the subject the copies take them
 * from, and already as B's receiver would store them (origin a1), since no receiver runs to set it.
 */
export function waitingCopy(level: BoundLevel, e: PreparedEvent): { readonly subject: string; readonly bytes: Uint8Array } {
  return {
    subject: level === 'floor' ? meshOutboxSubject('cluster', MESH_CLUSTER_NAME, 'a1', e.subject) : e.subject,
    bytes: encoder.encode(JSON.stringify({ ...e.event, origin: 'a1' } satisfies Envelope)),
  }
}
