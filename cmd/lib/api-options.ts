import { resolve } from 'node:path'
import type { Command } from 'commander'
import { API_DEFAULTS, localAdminToken, readTokensFile, resolveApiConfig, type ApiConfig } from '../../src/api/mod.ts'
import { parseIntOption } from './parse.ts'

export interface ApiCliOptions {
  api: boolean
  apiHost: string
  apiPort: number
  tokens?: string
  corsOrigin?: string[]
  bodyLimit: number
  rateLimit: number
}

/** The HTTP API's flags on `omni up`. */
export function withApiOptions(cmd: Command): Command {
  return cmd
    .option('--no-api', 'do not serve the HTTP API')
    .option('--api-host <host>', 'address the API binds (anything but loopback exposes it: put TLS in front)', process.env['OMNI_API_HOST'] ?? API_DEFAULTS.host)
    .option('--api-port <n>', 'API port', parseIntOption('--api-port'), Number(process.env['OMNI_API_PORT'] ?? API_DEFAULTS.port))
    .option('--tokens <file>', 'bearer tokens (YAML: tokens: [{ name, token, scopes: [ingest|read|admin] }]); default: one admin token made in <data>/api-token', process.env['OMNI_API_TOKENS_FILE'])
    .option('--cors-origin <origin...>', 'browser origins allowed to call the API (CORS stays off without one)')
    .option('--body-limit <bytes>', 'largest request body', parseIntOption('--body-limit'), API_DEFAULTS.bodyLimit)
    .option('--rate-limit <n>', 'requests per minute per token (per address without one)', parseIntOption('--rate-limit'), API_DEFAULTS.rateLimit)
}

/** The API configuration, and where the generated admin token is when no tokens were configured. */
export async function apiConfigFrom(opts: ApiCliOptions, dataDir: string): Promise<{ config: ApiConfig; tokenFile?: string }> {
  let tokenFile: string | undefined
  let tokens = opts.tokens ? await readTokensFile(opts.tokens) : undefined
  if (!tokens) {
    tokenFile = resolve(dataDir, 'api-token')
    const { token } = await localAdminToken(tokenFile)
    tokens = [{ name: 'local-admin', token, scopes: ['admin'] }]
  }
  const config = resolveApiConfig({
    host: opts.apiHost,
    port: opts.apiPort,
    tokens,
    ...(opts.corsOrigin ? { corsOrigins: opts.corsOrigin } : {}),
    bodyLimit: opts.bodyLimit,
    rateLimit: opts.rateLimit,
  })
  return { config, ...(tokenFile ? { tokenFile } : {}) }
}
