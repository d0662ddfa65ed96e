import Type from 'typebox'
import { metricsRegistry } from '../../observability/metrics.ts'
import type { Fabric } from '../../node/fabric.ts'
import type { ApiApp, RouteOptions } from '../context.ts'
import { registerStreamGauges } from '../gauges.ts'

/** /readyz is public: a probe answers every caller for this long, so callers cannot load NATS or ClickHouse. */
const READY_CACHE_MS = 1000

const Check = Type.Object({ ok: Type.Boolean(), detail: Type.String() })
const Readiness = Type.Object({
  ready: Type.Boolean(),
  checks: Type.Object({ fabric: Check, nats: Check, clickhouse: Check }),
  checkedAt: Type.String({ description: `when NATS and ClickHouse were last probed (ISO 8601); answers within ${READY_CACHE_MS} ms of it share the probe` }),
})

/** How long a readiness probe waits for NATS or ClickHouse before calling it unreachable. */
const PROBE_TIMEOUT_MS = 2000

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms)))
  return Promise.race([p, late]).finally(() => clearTimeout(timer))
}

async function probe(run: () => Promise<string>): Promise<{ ok: boolean; detail: string }> {
  try {
    return { ok: true, detail: await run() }
  } catch (err) {
    return { ok: false, detail: err instanceof Error ? err.message : String(err) }
  }
}

type Probes = { nats: { ok: boolean; detail: string }; clickhouse: { ok: boolean; detail: string }; checkedAt: string }

async function probeDependencies(fabric: Fabric): Promise<Probes> {
  const [nats, clickhouse] = await Promise.all([
    probe(async () => `rtt ${await within(fabric.nc.rtt(), PROBE_TIMEOUT_MS, 'NATS')} ms`),
    probe(async () => {
      const a = fabric.sink
      if (!a) return 'off (--no-clickhouse)'
      const ping = await within(a.ch.client.ping(), PROBE_TIMEOUT_MS, 'ClickHouse')
      if (!ping.success) throw ping.error
      if (a.unavailable()) throw new Error('inserts are failing and being retried')
      return a.ch.description
    }),
  ])
  return { nats, clickhouse, checkedAt: new Date().toISOString() }
}

/** The last probe while it is fresh; one probe at a time, which concurrent callers share. */
function sharedProbe(fabric: Fabric): () => Promise<Probes> {
  let last: { result: Promise<Probes>; until: number } | undefined
  return () => {
    if (last && Date.now() < last.until) return last.result
    const current = { result: probeDependencies(fabric), until: Infinity }
    void current.result.then(() => (current.until = Date.now() + READY_CACHE_MS))
    last = current
    return current.result
  }
}

/** `/healthz` (the process answers), `/readyz` (NATS and ClickHouse reachable) and `/metrics`. */
export async function healthRoutes(app: ApiApp, { deps }: RouteOptions): Promise<void> {
  const { fabric } = deps
  // a build that only describes itself must not take the live API's gauges
  if (deps.gauges !== false) {
    const unregister = registerStreamGauges(fabric)
    app.addHook('onClose', async () => unregister())
  }
  const probes = sharedProbe(fabric)

  app.get('/healthz', { config: { access: 'public' }, schema: { summary: 'The process is alive', tags: ['operations'], response: { 200: Type.Object({ ok: Type.Literal(true) }) } } }, async () => ({ ok: true as const }))

  app.get(
    '/readyz',
    { config: { access: 'public' }, schema: { summary: 'NATS and ClickHouse are reachable and the fabric runs', tags: ['operations'], response: { 200: Readiness, 503: Readiness } } },
    async (_request, reply) => {
      const { nats, clickhouse, checkedAt } = await probes()
      // the fabric's own state costs nothing to read, so it is never stale
      const running = { ok: fabric.state === 'running', detail: fabric.failure ?? fabric.state }
      const ready = running.ok && nats.ok && clickhouse.ok
      return reply.status(ready ? 200 : 503).send({ ready, checks: { fabric: running, nats, clickhouse }, checkedAt })
    },
  )

  app.get('/metrics', { config: { access: 'read' }, schema: { summary: 'Prometheus metrics', tags: ['operations'], security: [{ bearer: [] }], hide: false } }, async (_request, reply) => {
    const body = await metricsRegistry.metrics()
    return reply.type(metricsRegistry.contentType).send(body)
  })
}
