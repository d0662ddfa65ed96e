import { lstat, realpath } from 'node:fs/promises'
import { join } from 'node:path'
import { omniError, type OmniError } from '../../errors/mod.ts'
import { isAdditiveTier, openTrustStore, parseSigningKey, type SigningKey, type TrustStore, type VerifiedPlugin, type VerifyOptions } from '../../plugins/mod.ts'
import { readCapped } from '../../plugins/read.ts'
import type { PluginHostOptions } from '../plugin-host.ts'
import type { Problem } from '../../errors/mod.ts'
import type { ReloadResult } from './pipeline-files.ts'

/** A reload as an answer carries it. */
export type ReloadAnswer = Exclude<ReloadResult, { type: 'rejected' }> | { readonly type: 'rejected'; readonly problems: Problem[] }

// what the plugin service's operations share: the node's plugin settings, the reload after a
// change, and reading a signing key that lives on the server

/** The node's plugin settings, as the operations need them. */
export interface PluginScope {
  readonly settings: PluginHostOptions
  /** what every verification here is checked against: this cluster, the fabric's clock */
  verifyOptions(): VerifyOptions
  /** the trust store as it is on disk now */
  trust(): Promise<TrustStore>
  /** `<trust>/keys`: the only folder the API reads private keys from */
  readonly keysDir: string
}

/** The node's plugin settings; OMNI_ERR_UNAVAILABLE when it runs without plugins. */
export function pluginScope(settings: PluginHostOptions | undefined): PluginScope {
  if (!settings) throw omniError('OMNI_ERR_UNAVAILABLE', 'this node runs without plugins: start it with a plugins folder and a trust store (omni up --plugins DIR --trust DIR)')
  return {
    settings,
    keysDir: join(settings.trust, KEYS_FOLDER),
    verifyOptions: () => {
      const now = settings.now?.()
      return { cluster: settings.cluster, ...(now ? { now } : {}) }
    },
    trust: () => openTrustStore(settings.trust),
  }
}

/**
 * Reloads the node so it rescans the plugins and re-checks the pipelines that use them. A
 * refused reload keeps the running pipelines; the answer says why rather than failing the
 * change, which is done and durable by then.
 */
export async function reloadAfterChange(reload: () => Promise<ReloadResult>): Promise<ReloadAnswer> {
  try {
    const r = await reload()
    return r.type === 'reloaded' ? r : { type: 'rejected', problems: [...r.problems] }
  } catch (err) {
    return { type: 'rejected', problems: [{ where: 'fabric', message: err instanceof Error ? err.message : String(err) }] }
  }
}

/** Key file names: no path, no leading dot. */
export const KEY_NAME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$'

/** The folder under the trust store the API reads private keys from. */
export const KEYS_FOLDER = 'keys'
const KEY_NAME_RE = new RegExp(KEY_NAME_PATTERN)
// a PEM ed25519 key is about 120 bytes; anything much larger is not a key file
const MAX_KEY_FILE_BYTES = 16 * 1024

/**
 * Reads the private key file `name` from `<trust>/keys` (`where` names the request field). Only a
 * regular, small file directly in that folder is read: no path, no symbolic link, nothing that
 * resolves outside it. Every refusal reads the same, so a request learns nothing about the host's
 * files; the key's bytes never appear in an error.
 */
export async function readServerKey(scope: PluginScope, name: string, where: string): Promise<SigningKey> {
  const refuse = () => {
    const message = `no usable key named ${JSON.stringify(name)} in ${scope.keysDir}`
    return omniError('OMNI_ERR_CONFIG', `${where}: ${message}`, { problems: [{ where, message }] })
  }
  if (!KEY_NAME_RE.test(name)) throw refuse()
  const folder = await realpath(scope.keysDir).catch(() => undefined)
  if (!folder) throw refuse()
  const file = join(folder, name)
  // a file that resolves anywhere else (a symbolic link, even to a key beside it) is not used
  if ((await realpath(file).catch(() => undefined)) !== file) throw refuse()
  // O_NOFOLLOW: a link swapped in after that check is refused by the open itself
  const read = await readCapped(file, { maxBytes: MAX_KEY_FILE_BYTES, noFollow: true }).catch(() => undefined)
  if (read?.type !== 'ok') throw refuse()
  return parseSigningKey(read.bytes.toString('utf8'), `key ${name} in ${scope.keysDir}`)
}

/** A verified plugin as the routes answer with it. */
export function pluginSummary(v: VerifiedPlugin) {
  const m = v.manifest
  return { id: m.id, version: m.version, serial: m.serial, tier: m.tier, runtime: m.runtime, additive: isAdditiveTier(m.tier), digest: v.digest, keyid: v.keyid, signer: v.signer }
}

/** True when `<plugins>/<id>` is a folder. */
export async function isInstalled(scope: PluginScope, id: string): Promise<boolean> {
  return (await lstat(join(scope.settings.dir, id)).catch(() => undefined))?.isDirectory() === true
}

function notInstalled(id: string): OmniError {
  return omniError('OMNI_ERR_NOT_FOUND', `plugin ${id} is not installed on this node`)
}

/** `<plugins>/<id>`, or OMNI_ERR_NOT_FOUND. */
export async function installedDir(scope: PluginScope, id: string): Promise<string> {
  if (!(await isInstalled(scope, id))) throw notInstalled(id)
  return join(scope.settings.dir, id)
}

/** Refuses a timestamp in the request that is not a real date in the future (`where` names the field). */
export function futureOrRefuse(at: string, now: Date, where: string): void {
  const t = Date.parse(at)
  if (Number.isNaN(t) || t <= now.getTime()) {
    const message = Number.isNaN(t) ? `${at} is not a real date` : `${at} is not in the future`
    throw omniError('OMNI_ERR_BODY_INVALID', `${where}: ${message}`, { problems: [{ where, message }] })
  }
}
