import Type from 'typebox'
import { metricsRegistry } from '../../observability/metrics.ts'
import { collectProcessMetrics } from '../../observability/process-metrics.ts'
import type { ApiApp, RouteOptions } from '../context.ts'

const Check = Type.Object({ ok: Type.Boolean(), detail: Type.String() })
const Readiness = Type.Object({
  ready: Type.Boolean(),
  checks: Type.Object({ fabric: Check, nats: Check, clickhouse: Check }),
  checkedAt: Type.String({ description: 'when NATS and ClickHouse were last probed (ISO 8601); answers within a second of it share the probe' }),
})

/** `/healthz` (the process answers), `/readyz` (NATS and ClickHouse reachable) and `/metrics`. */
export async function healthRoutes(app: ApiApp, _opts: RouteOptions): Promise<void> {
  app.get('/healthz', { config: { access: 'public' }, schema: { summary: 'The process is alive', tags: ['operations'], response: { 200: Type.Object({ ok: Type.Literal(true) }) } } }, async () => ({ ok: true as const }))

  app.get(
    '/readyz',
    { config: { access: 'public' }, schema: { summary: 'NATS and ClickHouse are reachable and the fabric runs', tags: ['operations'], response: { 200: Readiness, 503: Readiness } } },
    async (_request, reply) => {
      const health = await app.node.health()
      return reply.status(health.ready ? 200 : 503).send(health)
    },
  )

  // what serves /metrics turns on the process metrics: a node without the API has no use for them
  collectProcessMetrics()
  app.get('/metrics', { config: { access: 'read' }, schema: { summary: 'Prometheus metrics', tags: ['operations'], security: [{ bearer: [] }], hide: false } }, async (_request, reply) => {
    const body = await metricsRegistry.metrics()
    return reply.type(metricsRegistry.contentType).send(body)
  })
}
