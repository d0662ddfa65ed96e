import type { JetStreamClient } from '@nats-io/jetstream'
import { Objm, type ObjectInfo, type ObjectStore } from '@nats-io/obj'
import type { BucketOptions } from '../jetstream/replicas.ts'
import { omniError } from '../errors/mod.ts'
import { installBundle } from './install.ts'
import { PLUGIN_ID_PATTERN, SEMVER_PATTERN } from './manifest-schema.ts'
import { decodeBundle, encodeBundle, type PluginBundle } from './registry-blob.ts'
import type { TrustStore } from './trust.ts'
import type { VerifiedPlugin, VerifyOptions } from './verify.ts'

export const REGISTRY_BUCKET = 'omni_plugins'
/** Largest blob fetched: 256 files of up to 64 MiB would be absurd for stage code. */
export const MAX_BUNDLE_BYTES = 64 * 1024 * 1024

/** One published plugin version, as listed (from the object's metadata; verify after fetching). */
export interface RegistryEntry {
  /** object name, `<id>@<version>` */
  readonly name: string
  readonly id: string
  readonly version: string
  readonly serial: number
  readonly digest: string
  readonly tier: string
  readonly signer: string
  readonly size: number
  readonly mtime: string
}

/** Signed plugin bundles in a JetStream object store, one object per `<id>@<version>`. */
export interface PluginRegistry {
  /**
   * Publishes a verified plugin. Re-publishing the same version needs a higher serial (e.g. after
   * `promote`) or the identical manifest; otherwise OMNI_ERR_PLUGIN_ROLLBACK.
   */
  publish(v: VerifiedPlugin): Promise<RegistryEntry>
  list(): Promise<RegistryEntry[]>
  /** The stored bundle, not yet verified; undefined when not published. */
  fetch(id: string, version: string): Promise<PluginBundle | undefined>
  /**
   * Fetches `<id>@<version>` and installs it as `<pluginsDir>/<id>/`: written to a temp folder,
   * verified there, then renamed into place, so a failed install leaves nothing behind.
   */
  install(id: string, version: string, pluginsDir: string, trust: TrustStore, opts: VerifyOptions): Promise<VerifiedPlugin>
}

/** Opens (creating if needed) the plugin object store. */
export async function openPluginRegistry(js: JetStreamClient, opts: BucketOptions = {}): Promise<PluginRegistry> {
  const store = await new Objm(js).create(REGISTRY_BUCKET, { description: 'signed Omni Fabric plugin bundles', ...opts })
  const fetch = (id: string, version: string) => fetchBundle(store, id, version)
  return {
    publish: (v) => publish(store, v),
    list: async () => (await store.list()).filter((i) => !i.deleted).map(toEntry).sort((a, b) => (a.name < b.name ? -1 : 1)),
    fetch,
    async install(id, version, pluginsDir, trust, opts) {
      const bundle = await fetch(id, version)
      if (!bundle) throw omniError('OMNI_ERR_PLUGIN_MANIFEST', `${objectName(id, version)} is not published in the ${REGISTRY_BUCKET} object store`)
      return installBundle(bundle, { id, version, pluginsDir, trust, verify: opts })
    },
  }
}

async function publish(store: ObjectStore, v: VerifiedPlugin): Promise<RegistryEntry> {
  const m = v.manifest
  const name = objectName(m.id, m.version)
  const existing = await store.info(name)
  if (existing && !existing.deleted) {
    const prev = toEntry(existing)
    if (prev.serial === m.serial && prev.digest === v.digest) return prev
    if (prev.serial >= m.serial) {
      throw omniError('OMNI_ERR_PLUGIN_ROLLBACK', `${name} is already published with serial ${prev.serial} (digest ${prev.digest}); publishing serial ${m.serial} (digest ${v.digest}) over it needs a higher serial`)
    }
  }
  const metadata = { id: m.id, version: m.version, serial: String(m.serial), digest: v.digest, tier: m.tier, signer: v.signer }
  return toEntry(await store.putBlob({ name, description: `${name} tier ${m.tier} serial ${m.serial}`, metadata }, encodeBundle(v)))
}

async function fetchBundle(store: ObjectStore, id: string, version: string): Promise<PluginBundle | undefined> {
  const name = objectName(id, version)
  const info = await store.info(name)
  if (!info || info.deleted) return undefined
  if (info.size > MAX_BUNDLE_BYTES) throw omniError('OMNI_ERR_PLUGIN_MANIFEST', `${name} is ${info.size} bytes, over the ${MAX_BUNDLE_BYTES}-byte limit for bundles`)
  const blob = await store.getBlob(name)
  if (!blob) return undefined
  return decodeBundle(blob, `${REGISTRY_BUCKET}/${name}`)
}

/** `<id>@<version>`, refusing anything that is not a plugin id and a semantic version. */
function objectName(id: string, version: string): string {
  if (!new RegExp(PLUGIN_ID_PATTERN).test(id) || id.length > 64) throw omniError('OMNI_ERR_CONFIG', `"${id}" is not a plugin id (like acme.shout)`)
  if (!new RegExp(SEMVER_PATTERN).test(version)) throw omniError('OMNI_ERR_CONFIG', `"${version}" is not a semantic version (like 1.0.0)`)
  return `${id}@${version}`
}

function toEntry(info: ObjectInfo): RegistryEntry {
  const md = info.metadata ?? {}
  const at = info.name.lastIndexOf('@')
  return {
    name: info.name,
    id: md['id'] ?? info.name.slice(0, at),
    version: md['version'] ?? info.name.slice(at + 1),
    serial: Number(md['serial'] ?? 0),
    digest: md['digest'] ?? '',
    tier: md['tier'] ?? '',
    signer: md['signer'] ?? '',
    size: info.size,
    mtime: info.mtime,
  }
}
