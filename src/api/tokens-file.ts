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
    // no pretty errors: they quote the offending line, which may hold a token
    doc = parse(text, { prettyErrors: false })
  } catch (cause) {
    const offset = (cause as { pos?: number[] }).pos?.[0]
    const before = offset === undefined ? undefined : text.slice(0, offset).split('\n')
    const at = before ? `${file}:${before.length}:${(before.at(-1)?.length ?? 0) + 1}` : file
    throw omniError('OMNI_ERR_CONFIG', `the tokens file is not YAML at ${at}`)
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
  if (existing && existing.trim().length >= 24) {
    // a copy or an editor may have widened it: the token is an admin credential
    await chmod(file, 0o600)
    return { token: existing.trim(), created: false }
  }
  const token = randomBytes(24).toString('base64url')
  await mkdir(dirname(file), { recursive: true })
  await writeFile(file, `${token}\n`, { mode: 0o600 })
  await chmod(file, 0o600)
  return { token, created: true }
}
