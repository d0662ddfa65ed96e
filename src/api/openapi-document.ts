import { omniError } from '../errors/mod.ts'
import { silentLogger } from '../observability/logger.ts'
import type { OmniNode } from '../node/mod.ts'
import { resolveApiConfig, type ApiConfig } from './options.ts'
import { buildApi } from './server.ts'

/**
 * A stand-in for the node that no route may use: every property is another stand-in, and
 * calling any of them throws. Routes only reach the node's services inside handlers, so the API can be
 * built, and its document generated, with no NATS or ClickHouse anywhere.
 */
function detachedNode(path = 'node'): OmniNode {
  const fail = () => {
    throw omniError('OMNI_ERR_UNAVAILABLE', `${path}: the API was built without a running node (only to describe itself)`)
  }
  return new Proxy(fail, {
    // not a thenable, so `await` and Promise.resolve leave it alone
    get: (_target, key) => (key === 'then' ? undefined : detachedNode(`${path}.${String(key)}`)),
    apply: fail,
    construct: fail,
  }) as unknown as OmniNode
}

/**
 * The OpenAPI document of the API as `omni up` would serve it at /docs/json, generated without
 * a node: the app is built, made ready and closed, never listening and never handling a request.
 */
export async function openApiDocument(config: ApiConfig = resolveApiConfig()): Promise<Record<string, unknown>> {
  const app = await buildApi(detachedNode(), config, silentLogger())
  try {
    await app.ready()
    return app.swagger() as unknown as Record<string, unknown>
  } finally {
    await app.close()
  }
}
