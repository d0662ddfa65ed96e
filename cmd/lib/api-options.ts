import { resolve } from 'node:path'
import type { Command } from 'commander'
import { API_DEFAULTS, localAdminToken, readTokensFileLocated, resolveApiConfig, type ApiConfig } from '../../src/api/mod.ts'
import { isOmniError, omniError } from '../../src/errors/mod.ts'
import { addEnvOption, optionReader, type EnvOption } from './options.ts'
import { parseCount, parseIntOption, parseSize } from './parse.ts'

export interface ApiCliOptions {
  api: boolean
  /** the data folder the generated admin token is kept in */
  data: string
  apiHost?: string
  apiPort?: number
  tokens?: string
  corsOrigin?: string[]
  bodyLimit: number
  rateLimit: number
  /** the operator's consent to admin tokens with `tenants: ['*']` */
  apiAllTenants?: boolean
  quotaEvents: number
  quotaBytes: number
  quotaWindow: number
}

export const API_HOST: EnvOption<string> = { flags: '--api-host <host>', env: 'OMNI_API_HOST', fallback: API_DEFAULTS.host }
export const API_PORT: EnvOption<number> = { flags: '--api-port <n>', env: 'OMNI_API_PORT', fallback: API_DEFAULTS.port, parse: parseCount }
const API_TOKENS: EnvOption<string | undefined> = { flags: '--tokens <file>', env: 'OMNI_API_TOKENS_FILE', fallback: undefined, fallbackHelp: 'one admin token made in <data>/api-token' }
/** Read from the variable only when the flag is absent: a flag without a value is just true. */
const API_ALL_TENANTS: EnvOption<boolean> = {
  env: 'OMNI_API_ALL_TENANTS',
  fallback: false,
  parse: (text, where) => {
    if (text === 'true' || text === 'false') return text === 'true'
    throw omniError('OMNI_ERR_CONFIG', `${where} must be true or false, got ${JSON.stringify(text)}`)
  },
}

/** The HTTP API's flags on `omni up`. */
export function withApiOptions(cmd: Command): Command {
  cmd.option('--no-api', 'do not serve the HTTP API')
  addEnvOption(cmd, API_HOST, 'address the API binds (anything but loopback exposes it: put TLS in front)')
  addEnvOption(cmd, API_PORT, 'API port')
  addEnvOption(cmd, API_TOKENS, 'bearer tokens (YAML: tokens: [{ name, token, scopes: [ingest|read|admin], tenants: [a, b] }])')
  return cmd
    .option('--api-all-tenants', 'allow admin tokens of the --tokens file to have tenants: ["*"] (every tenant) (default: $OMNI_API_ALL_TENANTS, else false)')
    .option('--cors-origin <origin...>', 'browser origins allowed to call the API (CORS stays off without one)')
    .option('--body-limit <bytes>', 'largest request body', parseIntOption('--body-limit'), API_DEFAULTS.bodyLimit)
    .option('--rate-limit <n>', 'requests per minute per token (per address without one)', parseIntOption('--rate-limit'), API_DEFAULTS.rateLimit)
    .option('--quota-events <n>', 'events one token (or one webhook source instance) may ingest per quota window; 0 for no quota; a token in --tokens may carry its own quota: { events, bytes }', parseIntOption('--quota-events'), API_DEFAULTS.quotaEvents)
    .option('--quota-bytes <size>', 'request body bytes one token may send to the ingest routes per quota window (1073741824, 512MiB, 1GiB); 0 for no quota', (v: string) => parseSize(v, '--quota-bytes'), API_DEFAULTS.quotaBytes)
    .option('--quota-window <seconds>', 'the quota window', parseIntOption('--quota-window'), API_DEFAULTS.quotaWindowMs / 1000)
}

/**
 * The API configuration; `tokenFile` is where the generated admin token is when no tokens were
 * configured, `tokensFile` the file they were read from otherwise.
 */
export async function apiConfigFrom(opts: ApiCliOptions, env: NodeJS.ProcessEnv = process.env): Promise<{ config: ApiConfig; tokenFile?: string; tokensFile?: string }> {
  const reader = optionReader(env)
  const host = reader.read({ ...API_HOST, value: opts.apiHost }).value
  const port = reader.read({ ...API_PORT, value: opts.apiPort }).value
  const tokensFile = reader.read({ ...API_TOKENS, value: opts.tokens }).value
  const allowAllTenants = reader.read({ ...API_ALL_TENANTS, value: opts.apiAllTenants }).value
  reader.done('API options')
  let tokenFile: string | undefined
  const read = tokensFile ? await readTokensFileLocated(tokensFile) : undefined
  let tokens = read?.tokens
  if (!tokens) {
    tokenFile = resolve(opts.data, 'api-token')
    const { token } = await localAdminToken(tokenFile)
    // every tenant: it is the operator's own credential, kept beside the data folder's NATS
    // credentials, which reach every tenant anyway; it exists only while no tokens file is given
    tokens = [{ name: 'local-admin', token, scopes: ['admin'], tenants: ['*'] }]
  }
  const settings = {
    host,
    port,
    tokens,
    // the generated token is the operator's; a tokens file's `*` needs the operator's word
    allowAllTenants: allowAllTenants || tokenFile !== undefined,
    ...(opts.corsOrigin ? { corsOrigins: opts.corsOrigin } : {}),
    bodyLimit: opts.bodyLimit,
    rateLimit: opts.rateLimit,
    quotaEvents: opts.quotaEvents,
    quotaBytes: opts.quotaBytes,
    quotaWindowMs: opts.quotaWindow * 1000,
  }
  let config: ApiConfig
  try {
    config = resolveApiConfig(settings)
  } catch (err) {
    // a token's problem is shown at its place in the tokens file
    if (!read || !isOmniError(err)) throw err
    throw omniError(err.code, err.message, { problems: err.problems.map((p) => ({ where: read.locate(p.where), message: p.message })), cause: err })
  }
  return { config, ...(tokenFile ? { tokenFile } : {}), ...(tokensFile ? { tokensFile } : {}) }
}
