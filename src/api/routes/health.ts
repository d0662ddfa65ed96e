import { Gauge } from 'prom-client'
import Type from 'typebox'
import { consumerName, DLQ_STREAM, EVENTS_STREAM } from '../../jetstream/topology.ts'
import { metricsRegistry } from '../../observability/metrics.ts'
import type { Fabric } from '../../runtime/fabric.ts'
import type { ApiApp, RouteOptions } from '../context.ts'

const Check = Type.Object({ ok: Type.Boolean(), detail: Type.String() })
const Readiness = Type.Object({ ready: Type.Boolean(), checks: Type.Object({ fabric: Check, nats: Check, clickhouse: Check }) })

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

/**
 * Gauges read from JetStream when Prometheus scrapes, so they cost nothing between scrapes:
 * consumer lag (events not yet delivered plus delivered and unacknowledged) and dead letters.
 */
const GAUGE_NAMES = ['omni_consumer_lag', 'omni_dead_letters_stored'] as const

function registerStreamGauges(fabric: Fabric): void {
  // a second API in the same process (tests) replaces the first one's gauges
  for (const name of GAUGE_NAMES) metricsRegistry.removeSingleMetric(name)
  new Gauge({
    name: 'omni_consumer_lag',
    help: 'Events waiting for a pipeline: not yet delivered (pending) plus delivered and unacknowledged (ack_pending)',
    labelNames: ['pipeline', 'kind'],
    registers: [metricsRegistry],
    async collect() {
      this.reset()
      await Promise.all(
        fabric.pipelines().map(async (p) => {
          const info = await fabric.jsm.consumers.info(EVENTS_STREAM, consumerName(p.name)).catch(() => undefined)
          if (!info) return
          this.set({ pipeline: p.name, kind: 'pending' }, info.num_pending)
          this.set({ pipeline: p.name, kind: 'ack_pending' }, info.num_ack_pending)
        }),
      )
    },
  })
  new Gauge({
    name: 'omni_dead_letters_stored',
    help: 'Dead letters waiting in the DLQ stream for inspection or redrive',
    registers: [metricsRegistry],
    async collect() {
      const info = await fabric.jsm.streams.info(DLQ_STREAM).catch(() => undefined)
      this.set(info?.state.messages ?? 0)
    },
  })
}

/** `/healthz` (the process answers), `/readyz` (NATS and ClickHouse reachable) and `/metrics`. */
export async function healthRoutes(app: ApiApp, { deps }: RouteOptions): Promise<void> {
  const { fabric } = deps
  registerStreamGauges(fabric)
  app.addHook('onClose', async () => {
    for (const name of GAUGE_NAMES) metricsRegistry.removeSingleMetric(name)
  })

  app.get('/healthz', { config: { access: 'public' }, schema: { summary: 'The process is alive', tags: ['operations'], response: { 200: Type.Object({ ok: Type.Literal(true) }) } } }, async () => ({ ok: true as const }))

  app.get(
    '/readyz',
    { config: { access: 'public' }, schema: { summary: 'NATS and ClickHouse are reachable and the fabric runs', tags: ['operations'], response: { 200: Readiness, 503: Readiness } } },
    async (_request, reply) => {
      const [nats, clickhouse] = await Promise.all([
        probe(async () => `rtt ${await within(fabric.nc.rtt(), PROBE_TIMEOUT_MS, 'NATS')} ms`),
        probe(async () => {
          const a = fabric.analytics
          if (!a) return 'off (--no-clickhouse)'
          const ping = await within(a.ch.client.ping(), PROBE_TIMEOUT_MS, 'ClickHouse')
          if (!ping.success) throw ping.error
          if (a.unavailable()) throw new Error('inserts are failing and being retried')
          return a.ch.description
        }),
      ])
      const running = { ok: fabric.state === 'running', detail: fabric.failure ?? fabric.state }
      const ready = running.ok && nats.ok && clickhouse.ok
      return reply.status(ready ? 200 : 503).send({ ready, checks: { fabric: running, nats, clickhouse } })
    },
  )

  app.get('/metrics', { config: { access: 'read' }, schema: { summary: 'Prometheus metrics', tags: ['operations'], security: [{ bearer: [] }], hide: false } }, async (_request, reply) => {
    const body = await metricsRegistry.metrics()
    return reply.type(metricsRegistry.contentType).send(body)
  })
}
