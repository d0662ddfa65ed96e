import { randomBytes } from 'node:crypto'
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import { isNode, LineCounter, parseDocument } from 'yaml'
import { omniError } from '../errors/mod.ts'
import type { ApiSettings } from './options.ts'

type TokenSettings = NonNullable<ApiSettings['tokens']>

/** Reads a tokens file (YAML or JSON: `tokens: [{ name, token, scopes, tenants }]`). */
export async function readTokensFile(file: string): Promise<TokenSettings> {
  return (await readTokensFileLocated(file)).tokens
}

/**
 * Reads a tokens file, with `locate` turning a settings problem's place (`api.tokens[0].tenants[1]`)
 * into `file:line:col`, so the operator finds the entry without the message quoting a token.
 */
export async function readTokensFileLocated(file: string): Promise<{ tokens: TokenSettings; locate: (where: string) => string }> {
  const text = await readFile(file, 'utf8').catch((cause: unknown) => {
    throw omniError('OMNI_ERR_CONFIG', `cannot read the tokens file ${file}: ${(cause as Error).message}`, { cause })
  })
  const lines = new LineCounter()
  // no pretty errors: they quote the offending line, which may hold a token
  const parsed = parseDocument(text, { prettyErrors: false, lineCounter: lines })
  const at = (offset: number) => {
    const { line, col } = lines.linePos(offset)
    return `${file}:${line}:${col}`
  }
  const syntax = parsed.errors[0]
  if (syntax) throw omniError('OMNI_ERR_CONFIG', `the tokens file is not YAML at ${syntax.pos[0] === undefined ? file : at(syntax.pos[0])}`)
  const doc: unknown = parsed.toJS()
  const tokens = (doc as { tokens?: unknown } | null)?.tokens
  if (!Array.isArray(tokens)) throw omniError('OMNI_ERR_CONFIG', `the tokens file ${file} needs a list under "tokens:" (each with name, token, scopes, tenants)`, { problems: [{ where: `${file}: tokens`, message: 'must be a list' }] })
  const locate = (where: string): string => {
    const m = /^api\.tokens((?:\[\d+\]|\.[A-Za-z]+)*)$/.exec(where)
    if (!m) return where
    const path: (string | number)[] = ['tokens', ...[...(m[1] ?? '').matchAll(/\[(\d+)\]|\.([A-Za-z]+)/g)].map((p) => (p[1] !== undefined ? Number(p[1]) : (p[2] as string)))]
    // the deepest node that is there: a missing field is reported at its token's entry
    for (let n = path.length; n > 0; n--) {
      const node = parsed.getIn(path.slice(0, n), true)
      if (isNode(node) && node.range) return `${at(node.range[0])} (${where.slice('api.'.length)})`
    }
    return `${file} (${where.slice('api.'.length)})`
  }
  return { tokens: tokens as TokenSettings, locate }
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
