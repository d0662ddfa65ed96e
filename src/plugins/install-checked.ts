import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { join } from 'node:path'
import type { HighWaterMarks, HighWaterResult } from './high-water.ts'
import { installBundle, swapInto, type InstallTarget } from './install.ts'
import type { PluginBundle } from './registry-blob.ts'
import type { VerifiedPlugin } from './verify.ts'

/** An installed plugin and what the cluster's high-water mark said about it. */
export interface CheckedInstall {
  readonly plugin: VerifiedPlugin
  readonly highWater: HighWaterResult
}

/**
 * Installs `bundle` as `<pluginsDir>/<id>`: verified in a dot-folder (loaders skip those), checked
 * against the cluster's high-water mark (recording a newer serial, refusing a rollback), and only
 * then moved into place. A refused plugin leaves the installed one as it was.
 */
export async function installChecked(bundle: PluginBundle, target: InstallTarget, marks: HighWaterMarks): Promise<CheckedInstall> {
  await mkdir(target.pluginsDir, { recursive: true })
  const staging = await mkdtemp(join(target.pluginsDir, '.staging-'))
  try {
    const staged = await installBundle(bundle, { ...target, pluginsDir: staging })
    const highWater = await marks.check(staged)
    const final = join(target.pluginsDir, target.id)
    await swapInto(staged.dir, final)
    return { plugin: Object.freeze({ ...staged, dir: final }), highWater }
  } finally {
    await rm(staging, { recursive: true, force: true })
  }
}

/**
 * Runs every check `installChecked` runs (the bundle verified in a dot-folder of `pluginsDir`,
 * judged against the high-water mark) and installs nothing, records nothing: for a bundle that
 * waits for a person. The verified bytes are kept in memory; the folder is removed.
 */
export async function verifyChecked(bundle: PluginBundle, target: InstallTarget, marks: HighWaterMarks): Promise<VerifiedPlugin> {
  await mkdir(target.pluginsDir, { recursive: true })
  const staging = await mkdtemp(join(target.pluginsDir, '.checking-'))
  try {
    const staged = await installBundle(bundle, { ...target, pluginsDir: staging })
    await marks.judge(staged)
    return staged
  } finally {
    await rm(staging, { recursive: true, force: true })
  }
}
