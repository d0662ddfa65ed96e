import { stat } from 'node:fs/promises'
import { join } from 'node:path'
import { Compile } from 'typebox/compile'
import { omniError } from '../../src/errors/mod.ts'
import { loadTrustStore, PluginManifestSchema, TIERS, type Tier, type TrustedKey, type TrustStore } from '../../src/plugins/mod.ts'
import { isoSeconds } from '../../src/util/time.ts'
import { openSession, type CliSession } from './connect.ts'

const DAY_MS = 86_400_000
const DURATION_UNITS: Record<string, number> = { h: 3_600_000, d: DAY_MS, w: 7 * DAY_MS, y: 365 * DAY_MS }

/** Writes one line to stdout. */
export function say(line = ''): void {
  process.stdout.write(`${line}\n`)
}

/** `days` from now, as a timestamp. */
export function daysFromNow(days: number): string {
  return isoSeconds(new Date(Date.now() + days * DAY_MS))
}

/** Commander parser for `--tier`. */
export function parseTier(flag: string) {
  return (value: string): Tier => {
    if ((TIERS as readonly string[]).includes(value)) return value as Tier
    throw omniError('OMNI_ERR_CONFIG', `${flag} "${value}" is not a tier; use one of ${TIERS.join(', ')} (least to most trusted)`)
  }
}

/**
 * Commander parser for `--expires`: a duration from now (`90d`, `12h`, `52w`, `2y`), a date
 * (`2036-01-01`, UTC midnight) or an RFC 3339 timestamp with an offset; it must lie in the future.
 */
export function parseExpiry(flag: string) {
  return (value: string): string => {
    const duration = /^(\d+)(h|d|w|y)$/.exec(value)
    let at: number
    if (duration) at = Date.now() + Number(duration[1]) * (DURATION_UNITS[duration[2] as string] as number)
    else if (/^\d{4}-\d{2}-\d{2}$/.test(value)) at = Date.parse(`${value}T00:00:00Z`)
    else if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(value)) at = Date.parse(value)
    else throw omniError('OMNI_ERR_CONFIG', `${flag} "${value}" is neither a duration (90d, 12h, 52w, 2y), a date (2036-01-01) nor a timestamp (2036-01-01T00:00:00Z)`)
    if (Number.isNaN(at)) throw omniError('OMNI_ERR_CONFIG', `${flag} "${value}" is not a real date`)
    if (at <= Date.now()) throw omniError('OMNI_ERR_CONFIG', `${flag} ${value} is not in the future`)
    return isoSeconds(new Date(at))
  }
}

/** Commander parser for `--serial`: `next` (current + 1) or a positive integer. */
export function parseSerial(value: string): number | 'next' {
  if (value === 'next') return 'next'
  const n = Number(value)
  if (Number.isSafeInteger(n) && n >= 1 && /^\d+$/.test(value)) return n
  throw omniError('OMNI_ERR_CONFIG', `--serial "${value}" must be "next" or a positive integer`)
}

// the manifest schema's own rules for an id and a version
const idSchema = Compile(PluginManifestSchema.properties.id)
const versionSchema = Compile(PluginManifestSchema.properties.version)

/** True when `value` has the shape of a plugin id (`vendor.name`). */
export function isPluginId(value: string): boolean {
  return idSchema.Check(value)
}

/** Splits `<id>@<version>`, naming the flag or argument when either part is not valid. */
export function parsePluginRef(value: string, what: string): { readonly id: string; readonly version: string } {
  const at = value.lastIndexOf('@')
  const id = at < 0 ? value : value.slice(0, at)
  const version = at < 0 ? '' : value.slice(at + 1)
  if (at < 0 || !isPluginId(id) || !versionSchema.Check(version)) {
    throw omniError('OMNI_ERR_CONFIG', `${what} "${value}" must be <id>@<version>, like acme.shout@1.0.0 (a plugin id and a semantic version)`)
  }
  return { id, version }
}

/**
 * Loads the trust store, first saying plainly when the folder is not there (the library would
 * only report that it has no root keys).
 */
export async function openTrust(dir: string): Promise<TrustStore> {
  const info = await stat(dir).catch(() => undefined)
  if (!info?.isDirectory()) {
    throw omniError('OMNI_ERR_PLUGIN_UNTRUSTED', `trust store ${dir} does not exist; create it with \`omni plugin keygen <name> --root --trust ${dir}\` or point --trust / $OMNI_TRUST at one`)
  }
  return loadTrustStore(dir)
}

/** How a trusted key reads in output: `publisher key <id> "name" (up to tier T, granted by root R until D)`. */
export function describeKey(trust: TrustStore, keyid: string): string {
  const key: TrustedKey | undefined = trust.key(keyid)
  if (!key) return `key ${keyid} (unknown to ${trust.dir})`
  if (key.kind === 'root') return `root key ${key.keyid} "${key.name}" (may sign every tier)`
  const root = key.grantedBy ? trust.key(key.grantedBy) : undefined
  return `publisher key ${key.keyid} "${key.name}" (up to tier ${key.maxTier}, granted by root ${root ? `"${root.name}"` : key.grantedBy} until ${key.expiresAt})`
}

/** The root key of `trust` with this key id, or an error naming the roots it has. */
export function requireRoot(trust: TrustStore, keyid: string, file: string): TrustedKey {
  const root = trust.roots.find((r) => r.keyid === keyid)
  if (root) return root
  const roots = trust.roots.map((r) => `${r.name} (${r.keyid})`).join(', ')
  throw omniError('OMNI_ERR_PLUGIN_UNTRUSTED', `${file} (key ${keyid}) is not a root key of ${trust.dir}; its roots are ${roots} (${join(trust.dir, 'roots')}/*.pub)`)
}

/** Runs `fn` with a NATS session and closes it after, whatever happens. */
export async function withSession<T>(url: string, fn: (session: CliSession) => Promise<T>): Promise<T> {
  const session = await openSession(url)
  try {
    return await fn(session)
  } finally {
    await session.close()
  }
}
