import { lstat, stat } from 'node:fs/promises'
import { isAbsolute, join } from 'node:path'
import { omniError, type OmniError } from '../errors/mod.ts'
import { isAdditiveTier, loadTrustStore, readSigningKey, type SigningKey, type TrustStore, type VerifiedPlugin, type VerifyOptions } from '../plugins/mod.ts'
import type { Fabric } from '../runtime/fabric.ts'
import type { PluginHostOptions } from '../runtime/plugin-host.ts'

// what the plugin routes share: the fabric's plugin settings, one change at a time, the reload
// after a change, and reading a signing key that lives on the server

/** The plugin settings of the fabric the API serves, as the routes need them. */
export interface PluginScope {
  readonly settings: PluginHostOptions
  /** what every verification here is checked against: this cluster, the fabric's clock */
  verifyOptions(): VerifyOptions
  /** the trust store as it is on disk now */
  trust(): Promise<TrustStore>
}

/** The fabric's plugin settings; OMNI_ERR_UNAVAILABLE when it runs without plugins. */
export function pluginScope(fabric: Fabric): PluginScope {
  const settings = fabric.pluginSettings()
  if (!settings) throw omniError('OMNI_ERR_UNAVAILABLE', 'this node runs without plugins: start it with a plugins folder and a trust store (omni up --plugins DIR --trust DIR)')
  return {
    settings,
    verifyOptions: () => {
      const now = settings.now?.()
      return { cluster: settings.cluster, ...(now ? { now } : {}) }
    },
    trust: async () => {
      const info = await stat(settings.trust).catch(() => undefined)
      if (!info?.isDirectory()) throw omniError('OMNI_ERR_PLUGIN_UNTRUSTED', `the trust store ${settings.trust} does not exist on this node`)
      return loadTrustStore(settings.trust)
    },
  }
}

/**
 * Runs changes to the plugins folder and the trust store one at a time (per API instance), so two
 * installs of one id cannot swap folders under each other and a revocation cannot lose the
 * entries of one signed a moment before.
 */
export function serialized(): <T>(fn: () => Promise<T>) => Promise<T> {
  let tail: Promise<unknown> = Promise.resolve()
  return <T>(fn: () => Promise<T>): Promise<T> => {
    const run = tail.then(fn, fn)
    tail = run.catch(() => undefined)
    return run
  }
}

export type ReloadSummary =
  | { readonly type: 'reloaded'; readonly added: string[]; readonly changed: string[]; readonly removed: string[] }
  | { readonly type: 'rejected'; readonly problems: { where: string; message: string }[] }

/**
 * Reloads the fabric so it rescans the plugins and re-checks the pipelines that use them. A
 * refused reload keeps the running pipelines; the answer says why rather than failing the change,
 * which is done and durable by then.
 */
export async function reloadFabric(fabric: Fabric): Promise<ReloadSummary> {
  if (fabric.state !== 'running') return { type: 'rejected', problems: [{ where: 'fabric', message: `not reloaded: the fabric is ${fabric.state}` }] }
  try {
    const r = await fabric.reload()
    return r.type === 'reloaded' ? r : { type: 'rejected', problems: [...r.problems] }
  } catch (err) {
    return { type: 'rejected', problems: [{ where: 'fabric', message: err instanceof Error ? err.message : String(err) }] }
  }
}

// a PEM ed25519 key is about 120 bytes; anything much larger is not a key file
const MAX_KEY_FILE_BYTES = 16 * 1024

/**
 * Reads a private key from a file on this host, named by an absolute path in the request (`where`
 * names the field). Only regular, small files are read, so a path cannot make the server read a
 * device or a huge file; errors name the path, never the file's content.
 */
export async function readServerKey(path: string, where: string): Promise<SigningKey> {
  const refuse = (message: string) => omniError('OMNI_ERR_CONFIG', `${where}: ${message}`, { problems: [{ where, message }] })
  if (!isAbsolute(path)) throw refuse(`"${path}" must be an absolute path on the API server host`)
  const info = await stat(path).catch(() => undefined)
  if (!info) throw refuse(`no key file ${path} on the API server host`)
  if (!info.isFile()) throw refuse(`${path} is not a regular file`)
  if (info.size > MAX_KEY_FILE_BYTES) throw refuse(`${path} is ${info.size} bytes, too large for a key file`)
  return readSigningKey(path)
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

/** An ISO timestamp without milliseconds, as manifests and lists are written. */
export function isoSeconds(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z')
}
