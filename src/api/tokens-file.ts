import { randomBytes } from 'node:crypto'
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import { parse } from 'yaml'
import { omniError } from '../errors/mod.ts'
import type { ApiSettings } from './options.ts'

type TokenSettings = NonNullable<ApiSettings['tokens']>

/** Reads a tokens file (YAML or JSON: `tokens: [{ name, token, scopes }]`). */
export async function readTokensFile(file: string): Promise<TokenSettings> {
  const text = await readFile(file, 'utf8').catch((cause: unknown) => {
    throw omniError('OMNI_ERR_CONFIG', `cannot read the tokens file ${file}: ${(cause as Error).message}`, { cause })
  })
  let doc: unknown
  try {
    doc = parse(text)
  } catch (cause) {
    throw omniError('OMNI_ERR_CONFIG', `the tokens file ${file} is not YAML: ${(cause as Error).message}`, { cause })
  }
  const tokens = (doc as { tokens?: unknown } | null)?.tokens
  if (!Array.isArray(tokens)) throw omniError('OMNI_ERR_CONFIG', `the tokens file ${file} needs a list under "tokens:" (each with name, token, scopes)`, { problems: [{ where: `${file}: tokens`, message: 'must be a list' }] })
  return tokens as TokenSettings
}

/**
 * The admin token of a node started without any configured token: made once, kept in the data
 * folder readable by its owner only, so the API is never open and the operator can still use it.
 */
export async function localAdminToken(file: string): Promise<{ token: string; created: boolean }> {
  const existing = await readFile(file, 'utf8').catch(() => undefined)
  if (existing && existing.trim().length >= 24) return { token: existing.trim(), created: false }
  const token = randomBytes(24).toString('base64url')
  await mkdir(dirname(file), { recursive: true })
  await writeFile(file, `${token}\n`, { mode: 0o600 })
  await chmod(file, 0o600)
  return { token, created: true }
}
