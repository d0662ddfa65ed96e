import { randomBytes } from 'node:crypto'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import { omniError } from '../errors/mod.ts'

/** A user and password on a NATS server: what every client of the platform's own server needs. */
export interface NatsCredentials {
  readonly user: string
  readonly password: string
}

/** The user the platform's components and CLI log in as. */
const PLATFORM_USER = 'omni'
/** Letters, digits, `-` and `_` only: safe inside the server's config file without escaping. */
const SAFE = /^[A-Za-z0-9_-]{16,256}$/

/**
 * The credentials of a managed server, kept in `file` (mode 0600) so the server keeps them across
 * restarts and the CLI can read them; made the first time, with 256 random bits.
 */
export async function loadOrCreateNatsCredentials(file: string): Promise<NatsCredentials> {
  const existing = await readNatsCredentials(file).catch((err: unknown) => {
    if ((err as { code?: string }).code === 'OMNI_ERR_CONFIG' && (err as { cause?: NodeJS.ErrnoException }).cause?.code === 'ENOENT') return undefined
    throw err
  })
  if (existing) return existing
  // of two processes, one writes it (the file is never replaced); the data folder lock makes that one ours
  return createNatsCredentialsFile(file, PLATFORM_USER)
}

/**
 * Writes new credentials for `user` (a password of 256 random bits) to `file`, mode 0600.
 * Never replaces a file: an existing one fails with EEXIST (a login in use stays as it is).
 */
export async function createNatsCredentialsFile(file: string, user: string): Promise<NatsCredentials> {
  const created: NatsCredentials = { user, password: randomBytes(32).toString('base64url') }
  await mkdir(dirname(file), { recursive: true })
  await writeFile(file, `${JSON.stringify(created)}\n`, { mode: 0o600, flag: 'wx' })
  return created
}

/** Reads a credentials file (`{"user":…,"password":…}`); names the file in every refusal, never the password. */
export async function readNatsCredentials(file: string): Promise<NatsCredentials> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (cause) {
    throw omniError('OMNI_ERR_CONFIG', `cannot read the NATS credentials file ${file}: ${(cause as Error).message}`, { cause })
  }
  let parsed: { user?: unknown; password?: unknown }
  try {
    parsed = JSON.parse(text) as typeof parsed
  } catch {
    throw omniError('OMNI_ERR_CONFIG', `the NATS credentials file ${file} is not JSON ({"user":"…","password":"…"})`)
  }
  const { user, password } = parsed
  if (typeof user !== 'string' || typeof password !== 'string' || !SAFE.test(password) || !/^[A-Za-z0-9_-]{1,64}$/.test(user)) {
    throw omniError('OMNI_ERR_CONFIG', `the NATS credentials file ${file} must hold {"user":"…","password":"…"} with a user of letters, digits, - and _, and a password of 16 or more of them`)
  }
  return { user, password }
}
