// The HTTP API's public surface: build it on a running fabric, or build and listen.
import type { Logger } from '../observability/logger.ts'
import { omniError } from '../errors/mod.ts'
import type { OmniNode } from '../node/mod.ts'
import type { ApiApp } from './context.ts'
import type { ApiConfig } from './options.ts'
import { buildApi, type ApiNodeOptions } from './server.ts'

export { buildApi, type ApiNodeOptions } from './server.ts'
export { resolveApiConfig, SCOPES, API_DEFAULTS, type ApiConfig, type ApiSettings, type Scope } from './options.ts'
export { readTokensFile, readTokensFileLocated, localAdminToken } from './tokens-file.ts'
export type { ApiApp } from './context.ts'

/** Builds the API and listens on the configured address; a taken port names the fix. */
export async function startApi(node: OmniNode, config: ApiConfig, logger: Logger, opts: ApiNodeOptions = {}): Promise<{ app: ApiApp; url: string }> {
  const app = await buildApi(node, config, logger, opts)
  try {
    await app.listen({ host: config.host, port: config.port })
  } catch (err) {
    await app.close()
    if ((err as { code?: string }).code === 'EADDRINUSE') throw omniError('OMNI_ERR_PORT_IN_USE', `the API port ${config.host}:${config.port} is taken; use --api-port, or stop what holds it`, { cause: err })
    throw err
  }
  const address = app.server.address()
  const port = typeof address === 'object' && address ? address.port : config.port
  return { app, url: `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}` }
}
