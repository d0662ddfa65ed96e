import { randomBytes } from 'node:crypto'
import { lstat, mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { omniError } from '../errors/mod.ts'
import { MAX_ENVELOPE_BYTES } from './dsse.ts'
import { ENVELOPE_FILE, MANIFEST_FILE } from './paths.ts'
import type { PluginBundle } from './registry-blob.ts'
import type { TrustStore } from './trust.ts'
import { verifyPlugin, type VerifiedPlugin, type VerifyOptions } from './verify.ts'

export interface InstallTarget {
  /** the id and version the bundle must turn out to be */
  readonly id: string
  readonly version: string
  readonly pluginsDir: string
  readonly trust: TrustStore
  readonly verify: VerifyOptions
}

/**
 * Writes a bundle into a temp folder beside its destination, verifies it there, and only then
 * renames it to `<pluginsDir>/<id>` (moving a previous install aside and removing it after), so
 * the destination is never a half-written or unverified folder.
 */
export async function installBundle(bundle: PluginBundle, target: InstallTarget): Promise<VerifiedPlugin> {
  const { id, version, pluginsDir } = target
  await mkdir(pluginsDir, { recursive: true })
  const tmp = await mkdtemp(join(pluginsDir, `.${id}.installing-`))
  try {
    await writeBundle(tmp, bundle)
    const v = await verifyPlugin(tmp, target.trust, target.verify)
    if (v.manifest.id !== id || v.manifest.version !== version) {
      throw omniError('OMNI_ERR_PLUGIN_MANIFEST', `registry object ${id}@${version} holds ${v.manifest.id}@${v.manifest.version}; refusing a bundle stored under another name`)
    }
    const final = join(pluginsDir, id)
    await swapInto(tmp, final)
    return Object.freeze({ ...v, dir: final })
  } catch (err) {
    await rm(tmp, { recursive: true, force: true })
    throw err
  }
}

async function writeBundle(dir: string, bundle: PluginBundle): Promise<void> {
  // 'wx' never follows or replaces anything already there (paths were checked when decoding)
  await writeFile(join(dir, ENVELOPE_FILE), bundle.envelope, { flag: 'wx', mode: 0o644 })
  const payload = readablePayload(bundle.envelope)
  if (payload) await writeFile(join(dir, MANIFEST_FILE), payload, { flag: 'wx', mode: 0o644 })
  for (const [path, bytes] of bundle.files) {
    await mkdir(dirname(join(dir, path)), { recursive: true })
    await writeFile(join(dir, path), bytes, { flag: 'wx', mode: 0o644 })
  }
}

/** The envelope's payload, written as the readable plugin.yaml; verification checks the two agree. */
function readablePayload(envelope: Buffer): Buffer | undefined {
  if (envelope.byteLength > MAX_ENVELOPE_BYTES) return undefined
  try {
    const payload = (JSON.parse(envelope.toString('utf8')) as { payload?: unknown }).payload
    return typeof payload === 'string' ? Buffer.from(payload, 'base64') : undefined
  } catch {
    return undefined
  }
}

/** Renames `tmp` to `final`, moving a previous install aside first and removing it after. */
export async function swapInto(tmp: string, final: string): Promise<void> {
  const previous = await lstat(final).catch(() => undefined)
  if (!previous) return rename(tmp, final)
  const aside = join(dirname(final), `.${basename(final)}.old-${randomBytes(4).toString('hex')}`)
  await rename(final, aside)
  try {
    await rename(tmp, final)
  } catch (err) {
    await rename(aside, final)
    throw err
  }
  await rm(aside, { recursive: true, force: true })
}
