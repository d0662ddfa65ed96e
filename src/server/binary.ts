import { execFile } from 'node:child_process'
import { access, constants } from 'node:fs/promises'
import { delimiter, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { omniError } from '../errors/mod.ts'
import { formatVersion, isSupportedVersion, MIN_NATS_VERSION, parseVersion, SETUP_HINT } from './version.ts'

/** A nats-server binary that passed the version check. */
export interface NatsBinary {
  readonly path: string
  readonly version: string
}

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url))

/** Where `make setup` puts the server. */
export const TOOLS_NATS_SERVER = join(REPO_ROOT, '.tools', 'nats', 'nats-server')

async function isExecutable(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK)
    return true
  } catch {
    return false
  }
}

async function onPath(name: string, pathEnv: string | undefined): Promise<string | undefined> {
  for (const dir of (pathEnv ?? '').split(delimiter)) {
    if (dir === '') continue
    const candidate = join(dir, name)
    if (await isExecutable(candidate)) return candidate
  }
  return undefined
}

/**
 * Picks the binary: `explicit`, then env OMNI_NATS_SERVER, then `<repo>/.tools/nats/nats-server`,
 * then `nats-server` on PATH. An explicit choice that does not work is an error, never skipped.
 */
export async function locateNatsBinary(
  explicit?: string,
  env: NodeJS.ProcessEnv = process.env,
  toolsPath: string = TOOLS_NATS_SERVER,
): Promise<{ path: string; source: string }> {
  if (explicit) return { path: explicit, source: 'the binary option' }
  const fromEnv = env['OMNI_NATS_SERVER']
  if (fromEnv) return { path: fromEnv, source: 'OMNI_NATS_SERVER' }
  if (await isExecutable(toolsPath)) return { path: toolsPath, source: '.tools/nats' }
  const found = await onPath('nats-server', env['PATH'])
  if (found) return { path: found, source: 'PATH' }
  throw omniError(
    'OMNI_ERR_NATS_BINARY_MISSING',
    `no nats-server binary found (looked at OMNI_NATS_SERVER, ${toolsPath} and PATH): ${SETUP_HINT}`,
  )
}

function runVersion(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(path, ['--version'], { timeout: 5000 }, (err, stdout, stderr) => {
      if (err) reject(err)
      else resolve(`${stdout}${stderr}`)
    })
  })
}

/** Runs `<path> --version` and requires a supported version. */
export async function checkNatsBinary(path: string, source = 'the binary option'): Promise<NatsBinary> {
  let out: string
  try {
    out = await runVersion(path)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    const why = code === 'ENOENT' ? 'does not exist' : code === 'EACCES' ? 'is not executable' : `failed to run \`--version\` (${(err as Error).message.trim()})`
    throw omniError('OMNI_ERR_NATS_BINARY_MISSING', `nats-server at ${path} (from ${source}) ${why}: ${SETUP_HINT}`, { cause: err })
  }
  const v = parseVersion(out)
  if (!v) {
    throw omniError(
      'OMNI_ERR_NATS_BINARY_MISSING',
      `${path} (from ${source}) does not look like nats-server: \`--version\` printed ${JSON.stringify(out.trim().slice(0, 200))}; ${SETUP_HINT}`,
    )
  }
  const version = formatVersion(v)
  if (!isSupportedVersion(version)) {
    throw omniError(
      'OMNI_ERR_NATS_TOO_OLD',
      `nats-server at ${path} (from ${source}) is v${version}, older than the required ${MIN_NATS_VERSION}: ${SETUP_HINT}`,
    )
  }
  return { path, version }
}

/** Locates and checks the binary in one step. */
export async function resolveNatsBinary(explicit?: string, env: NodeJS.ProcessEnv = process.env): Promise<NatsBinary> {
  const { path, source } = await locateNatsBinary(explicit, env)
  return checkNatsBinary(path, source)
}
