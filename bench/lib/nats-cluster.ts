// A real nats-server cluster on loopback: every server with JetStream and routes to the others.
// Used by the ledger's cluster scenario, the scale-out runs and the tests (test/fixtures/nats-cluster.ts).
import { join } from 'node:path'
import type { JetStreamManager } from '@nats-io/jetstream'
import { startNatsServer, type ManagedNatsServer, type NatsCredentials } from '../../src/server/mod.ts'
import { freePort } from './mesh-servers.ts'

export interface NatsCluster {
  readonly servers: readonly ManagedNatsServer[]
  /** the servers by name (`n1`, `n2`, …), as JetStream names a stream's leader and replicas */
  readonly byName: Readonly<Record<string, ManagedNatsServer>>
  /** every server's client URL, comma-separated, as `--nats` and connectNats take a cluster */
  readonly url: string
  /** resolves once every running server reports itself healthy (JetStream with a meta leader) */
  healthy(timeoutMs?: number): Promise<void>
  /** stops every server */
  close(): Promise<void>
}

export const CLUSTER_NAME = 'omni-cluster'

export interface NatsClusterOptions {
  /** each server's store goes in `<dir>/n<i>` */
  readonly dir: string
  /** servers (default 3) */
  readonly size?: number
  /** JetStream fsync policy (default `always`) */
  readonly syncInterval?: string
  readonly auth?: NatsCredentials
}

/**
 * Starts `size` nats-servers that route to each other on loopback and resolves once the cluster
 * is healthy (JetStream elected its meta leader). Route ports are picked up front: each server's
 * config names the others'.
 */
export async function startNatsCluster(opts: NatsClusterOptions): Promise<NatsCluster> {
  const size = opts.size ?? 3
  const routePorts: number[] = []
  for (let i = 0; i < size; i++) routePorts.push(await freePort())
  const routes = routePorts.map((p) => `nats-route://127.0.0.1:${p}`)
  const started = await Promise.allSettled(
    routePorts.map((port, i) =>
      startNatsServer({
        port: 0,
        host: '127.0.0.1',
        syncInterval: opts.syncInterval ?? 'always',
        stopTimeoutMs: 5000,
        serverName: `n${i + 1}`,
        storeDir: join(opts.dir, `n${i + 1}`),
        ...(opts.auth ? { auth: opts.auth } : {}),
        topology: { monitorPort: 0, cluster: { name: CLUSTER_NAME, host: '127.0.0.1', port, routes: routes.filter((_, j) => j !== i) } },
      }),
    ),
  )
  const servers = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []))
  const close = async () => void (await Promise.all(servers.map((s) => s.close())))
  const failed = started.find((s) => s.status === 'rejected')
  if (failed) {
    await close()
    throw failed.reason
  }
  const cluster: NatsCluster = {
    servers,
    byName: Object.fromEntries(servers.map((s, i) => [`n${i + 1}`, s])),
    url: servers.map((s) => s.url).join(','),
    healthy: (timeoutMs = 30_000) => waitHealthy(servers, timeoutMs),
    close,
  }
  try {
    await cluster.healthy()
  } catch (err) {
    await close()
    throw err
  }
  return cluster
}

/**
 * Waits (bounded) until every copy of `stream` is current with no lag. A reader (an ephemeral
 * consumer) may be placed on a restarted server's copy while it still catches up: read right after
 * a restart, one run counted 1,000 of 3,000 inputs and another 2,988 of 3,000 outputs, while no
 * run reading after this wait (and the stream's own subject counts) ever missed one.
 */
export async function streamCaughtUp(jsm: JetStreamManager, stream: string, timeoutMs: number): Promise<boolean> {
  const until = Date.now() + timeoutMs
  while (Date.now() < until) {
    const c = await jsm.streams.info(stream).then((i) => i.cluster, () => undefined)
    if (c?.leader && (c.replicas ?? []).every((r) => r.current && !r.lag)) return true
    await new Promise((r) => setTimeout(r, 200))
  }
  return false
}

/** Polls /healthz of every running server (bounded); it answers 200 once JetStream is ready there. */
async function waitHealthy(servers: readonly ManagedNatsServer[], timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs
  let last = ''
  while (Date.now() < until) {
    const answers = await Promise.all(
      servers
        .filter((s) => s.running)
        .map(async (s) => {
          const res = await fetch(`${s.monitorUrl}/healthz`, { signal: AbortSignal.timeout(2000) }).catch((err: Error) => ({ ok: false, status: err.message }))
          return res.ok ? '' : `${s.url}: ${String(res.status)}`
        }),
    )
    last = answers.filter((a) => a !== '').join('; ')
    if (last === '') return
    await new Promise((r) => setTimeout(r, 200))
  }
  throw new Error(`the NATS cluster did not become healthy within ${timeoutMs} ms: ${last}`)
}
