// The HTTP servers the http-ingest scenario loads: a Fastify app with one empty route (the
// ceiling) and the real API on a fabric, each listening on a free local port. The hand-written
// ingest route, the denominator of the API rows, is in hand-ingest.ts.
import { randomBytes } from 'node:crypto'
import { copyFile, mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import Fastify from 'fastify'
import type { ApiApp } from '../../src/api/context.ts'
import { API_DEFAULTS, resolveApiConfig } from '../../src/api/options.ts'
import { buildApi, serverOptions } from '../../src/api/server.ts'
import { getCartridge } from '../../src/cartridges/mod.ts'
import { silentLogger } from '../../src/observability/logger.ts'
import { startNode, type OmniNode } from '../../src/node/mod.ts'
import { FIXTURES_DIR } from './fixtures.ts'
import type { BenchContext } from './types.ts'

const MESSAGING_CATALOG = fileURLToPath(new URL('../../manifests/catalog/messaging.yaml', import.meta.url))
/** the webhook source and instance the bench posts to: /v1/webhooks/whatsapp/bench-1 */
export const WEBHOOK_SOURCE = 'whatsapp'
export const WEBHOOK_INSTANCE = 'bench-1'

// no auth: deliveries carry the bench's bearer token with the ingest scope
const WEBHOOK_MANIFEST = `kind: WebhookSource
name: ${WEBHOOK_SOURCE}
adapter: evolution
description: WhatsApp through Evolution API, for omni bench
instances: [${WEBHOOK_INSTANCE}]
`

export interface HttpTarget {
  /** base URL, no trailing slash */
  readonly url: string
  close(): Promise<void>
}

/** The ceiling: the same Fastify with the API's server options (serverOptions), one route that does nothing. */
export async function startEmptyServer(): Promise<HttpTarget> {
  const app = Fastify(serverOptions(silentLogger(), API_DEFAULTS.bodyLimit))
  app.post('/empty', async () => ({ ok: true }))
  const url = await app.listen({ host: '127.0.0.1', port: 0 })
  return { url, close: () => app.close() }
}

export interface ApiTarget extends HttpTarget {
  readonly node: OmniNode
  readonly app: ApiApp
  /** the Authorization header of a token with the ingest scope */
  readonly headers: Readonly<Record<string, string>>
}

/**
 * The bench manifests for the API: the bench catalog, the messaging catalog the webhook
 * adapters map into, and one Evolution webhook source. No pipeline: the row measures ingest
 * alone, not a worker consuming on the same cores.
 */
export async function writeHttpManifests(ctx: BenchContext): Promise<string> {
  const dir = join(ctx.tmpDir, `http-manifests-${ctx.runId}`)
  await mkdir(dir, { recursive: true })
  await copyFile(join(FIXTURES_DIR, 'catalog.yaml'), join(dir, 'bench-catalog.yaml'))
  await copyFile(MESSAGING_CATALOG, join(dir, 'messaging.yaml'))
  await writeFile(join(dir, 'webhook-whatsapp.yaml'), WEBHOOK_MANIFEST)
  return dir
}

/** The fabric (ClickHouse off) and the API on it, listening like `omni up` serves it. */
export async function startApiServer(ctx: BenchContext, manifests: string): Promise<ApiTarget> {
  const node = await startNode({ nats: { url: ctx.url }, manifests, lookup: getCartridge, logger: silentLogger(), watch: false, clickhouse: false })
  try {
    const token = randomBytes(24).toString('hex')
    // a limit far above what the bench can send, so the limiter is paid for but never refuses
    const config = resolveApiConfig({ host: '127.0.0.1', port: 0, rateLimit: 10_000_000, quotaEvents: 0, quotaBytes: 0, tokens: [{ name: 'bench-ingest', token, scopes: ['ingest'] }] })
    const app = await buildApi(node, config, silentLogger())
    try {
      const url = await app.listen({ host: config.host, port: config.port })
      return {
        url,
        node,
        app,
        headers: { authorization: `Bearer ${token}` },
        // the API before the node it serves
        close: async () => {
          await app.close()
          await node.close()
        },
      }
    } catch (err) {
      await app.close()
      throw err
    }
  } catch (err) {
    await node.close()
    throw err
  }
}
