import { randomUUID } from 'node:crypto'
import { mkdir, open, rename, unlink } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'

/**
 * Writes `file` through a temp file in the same folder and a rename, so a reader sees the old or
 * the new file whole, never half. The temp name starts with "." and ends in ".tmp", so no loader
 * or watcher that looks for a file's own suffix (.yaml, .dsse.json) picks it up. Creates the folder.
 */
export async function writeAtomically(file: string, data: string | Uint8Array, options: { readonly mode?: number } = {}): Promise<void> {
  const dir = dirname(file)
  await mkdir(dir, { recursive: true })
  const tmp = join(dir, `.${basename(file)}.${randomUUID()}.tmp`)
  const handle = await open(tmp, 'wx', options.mode)
  try {
    await handle.writeFile(data)
    await handle.sync()
  } catch (err) {
    await handle.close()
    await unlink(tmp).catch(() => undefined)
    throw err
  }
  await handle.close()
  await rename(tmp, file).catch(async (err: unknown) => {
    await unlink(tmp).catch(() => undefined)
    throw err
  })
}
