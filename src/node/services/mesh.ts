import type { NatsConnection } from '@nats-io/transport-node'
import type { MeshRuntime } from '../../mesh/runtime.ts'
import type { MeshStatus } from '../../mesh/status.ts'
import { MESH_STATUS_SUBJECT } from '../../wire/mod.ts'

/** What a node not on a mesh answers. */
export interface MeshOff {
  readonly enabled: false
}

export type MeshView = MeshStatus | MeshOff

/** The node's place on the mesh, for `GET /v1/mesh`, `omni mesh status` and the mesh gauges. */
export interface MeshService {
  /** false when the node joined no mesh */
  readonly enabled: boolean
  status(): Promise<MeshView>
}

export function createMeshService(runtime: () => MeshRuntime | undefined): MeshService {
  return {
    get enabled() {
      return runtime() !== undefined
    },
    async status() {
      const r = runtime()
      return r ? r.status() : { enabled: false }
    },
  }
}

/**
 * Answers mesh status requests on the node's own server, where `omni mesh status` asks. Every
 * node answers (one off the mesh says so), so the CLI can tell "not on a mesh" from "no node".
 */
export function serveMeshStatus(nc: NatsConnection, service: MeshService): { close(): void } {
  const sub = nc.subscribe(MESH_STATUS_SUBJECT, {
    callback: (err, m) => {
      if (err) return
      service.status().then(
        (status) => m.respond(JSON.stringify(status)),
        (cause: unknown) => m.respond(JSON.stringify({ error: cause instanceof Error ? cause.message : String(cause) })),
      )
    },
  })
  return { close: () => sub.unsubscribe() }
}
