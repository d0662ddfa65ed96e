import { omniError } from '../errors/mod.ts'
import { silentLogger } from '../observability/logger.ts'
import type { Fabric } from '../node/fabric.ts'
import { resolveApiConfig, type ApiConfig } from './options.ts'
import { buildApi } from './server.ts'

/**
 * A stand-in for the fabric that no route may use: every property is another stand-in, and
 * calling any of them throws. Routes only reach the fabric inside handlers, so the API can be
 * built, and its document generated, with no NATS or ClickHouse anywhere.
 */
function detachedFabric(path = 'fabric'): Fabric {
  const fail = () => {
    throw omniError('OMNI_ERR_UNAVAILABLE', `${path}: the API was built without a running fabric (only to describe itself)`)
  }
  return new Proxy(fail, {
    // not a thenable, so `await` and Promise.resolve leave it alone
    get: (_target, key) => (key === 'then' ? undefined : detachedFabric(`${path}.${String(key)}`)),
    apply: fail,
    construct: fail,
  }) as unknown as Fabric
}

/**
 * The OpenAPI document of the API as `omni up` would serve it at /docs/json, generated without
 * a fabric: the app is built, made ready and closed, never listening and never handling a request.
 */
export async function openApiDocument(config: ApiConfig = resolveApiConfig()): Promise<Record<string, unknown>> {
  const app = await buildApi({ fabric: detachedFabric(), manifests: '', gauges: false }, config, silentLogger())
  try {
    await app.ready()
    return app.swagger() as unknown as Record<string, unknown>
  } finally {
    await app.close()
  }
}
