import { randomBytes } from 'node:crypto'
import { chmod, mkdir, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { PluginCode } from '../types.ts'
import { ENTRY_FILE, SOCKET_FILE } from './settings.ts'

/** The host folders of one plugin's container. */
export interface PluginFolders {
  /** the per-plugin folder holding both, removed by `remove()` */
  readonly root: string
  /** mounted read-only: a copy of the verified entry bytes, nothing else */
  readonly pluginDir: string
  /** the host's own, mounted read-only: where the host listens for the runner */
  readonly socketDir: string
  /** the host's socket the runner connects to */
  readonly socketFile: string
  remove(): Promise<void>
}

/**
 * Makes a plugin's folders under `workDir`. The code is written from the verified bytes, never
 * copied from the plugin's own folder, so a file swapped after verification is not mounted.
 */
export async function createPluginFolders(workDir: string, code: PluginCode): Promise<PluginFolders> {
  const slug = code.id.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 64)
  const root = join(workDir, `${slug}-${randomBytes(4).toString('hex')}`)
  const pluginDir = join(root, 'plugin')
  const socketDir = join(root, 'sock')
  const folders: PluginFolders = { root, pluginDir, socketDir, socketFile: join(socketDir, SOCKET_FILE), remove: () => rm(root, { recursive: true, force: true }) }
  try {
    // only the host user may enter: no other local user reaches the runner's socket
    await mkdir(root, { recursive: true, mode: 0o700 })
    await chmod(root, 0o700)
    await mkdir(pluginDir, { mode: 0o755 })
    await writeFile(join(pluginDir, ENTRY_FILE), code.source, { mode: 0o444 })
    await chmod(pluginDir, 0o555)
    // the host's: the runner (uid 65534) may only pass through it to the socket, never write here
    await mkdir(socketDir, { mode: 0o711 })
    await chmod(socketDir, 0o711)
  } catch (err) {
    await folders.remove()
    throw err
  }
  return folders
}
