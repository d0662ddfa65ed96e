import type { NatsConnection } from '@nats-io/transport-node'
import type { ClickHouseSink } from '../../clickhouse/sink.ts'

/** One dependency's state, in words an operator can act on. */
export interface Check {
  readonly ok: boolean
  readonly detail: string
}

/** Whether the node can take work: it runs, and NATS and ClickHouse answer. */
export interface Health {
  readonly ready: boolean
  readonly checks: { readonly fabric: Check; readonly nats: Check; readonly clickhouse: Check }
  /** when NATS and ClickHouse were last probed */
  readonly checkedAt: string
}

/** A probe's answer is shared for this long, so callers of a public probe cannot load NATS or ClickHouse. */
export const HEALTH_CACHE_MS = 1000
/** How long a probe waits for NATS or ClickHouse before calling it unreachable. */
const PROBE_TIMEOUT_MS = 2000

export interface HealthDeps {
  readonly nc: NatsConnection
  readonly sink: () => ClickHouseSink | undefined
  readonly state: () => { readonly state: string; readonly failure: string | undefined }
}

export function createHealthService(deps: HealthDeps): () => Promise<Health> {
  const probes = sharedProbe(deps)
  return async () => {
    const { nats, clickhouse, checkedAt } = await probes()
    // the node's own state costs nothing to read, so it is never stale
    const { state, failure } = deps.state()
    const fabric = { ok: state === 'running', detail: failure ?? state }
    return { ready: fabric.ok && nats.ok && clickhouse.ok, checks: { fabric, nats, clickhouse }, checkedAt }
  }
}

type Probes = { nats: Check; clickhouse: Check; checkedAt: string }

async function probeDependencies(deps: HealthDeps): Promise<Probes> {
  const [nats, clickhouse] = await Promise.all([
    probe(async () => `rtt ${await within(deps.nc.rtt(), PROBE_TIMEOUT_MS, 'NATS')} ms`),
    probe(async () => {
      const sink = deps.sink()
      if (!sink) return 'off (--no-clickhouse)'
      const ping = await within(sink.ch.client.ping(), PROBE_TIMEOUT_MS, 'ClickHouse')
      if (!ping.success) throw ping.error
      if (sink.unavailable()) throw new Error('inserts are failing and being retried')
      return sink.ch.description
    }),
  ])
  return { nats, clickhouse, checkedAt: new Date().toISOString() }
}

/** The last probe while it is fresh; one probe at a time, which concurrent callers share. */
function sharedProbe(deps: HealthDeps): () => Promise<Probes> {
  let last: { result: Promise<Probes>; until: number } | undefined
  return () => {
    if (last && Date.now() < last.until) return last.result
    const current = { result: probeDependencies(deps), until: Infinity }
    void current.result.then(() => (current.until = Date.now() + HEALTH_CACHE_MS))
    last = current
    return current.result
  }
}

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms)))
  return Promise.race([p, late]).finally(() => clearTimeout(timer))
}

async function probe(run: () => Promise<string>): Promise<Check> {
  try {
    return { ok: true, detail: await run() }
  } catch (err) {
    return { ok: false, detail: err instanceof Error ? err.message : String(err) }
  }
}
