import { constants } from 'node:fs'
import { access, copyFile, mkdir } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import type { Command } from 'commander'
import { omniError } from '../../../src/errors/mod.ts'
import {
  defaultRevocationsExpiry,
  generateSigningKey,
  loadTrustStore,
  openTrustStore,
  readSigningKey,
  requireRoot,
  REVOCATIONS_DAYS,
  REVOCATIONS_FILE,
  writeKeyGrant,
  writeRevocationList,
  writeSigningKey,
  type SigningKey,
  type Tier,
} from '../../../src/plugins/mod.ts'
import { isoSeconds } from '../../../src/util/time.ts'
import { addPluginFlags, pluginSettingsFrom } from '../../lib/plugin-options.ts'
import { say } from '../../lib/output.ts'
import { daysFromNow, parseExpiry, parseTier } from '../../lib/parse.ts'

interface KeygenOptions {
  out: string
  root?: boolean
  grantWith?: string
  tier?: Tier
  expires?: string
  trust?: string
  data: string
}

const GRANT_DAYS = 365
// a grant's name is the key's name: the trust store's rule is stricter than the key file's
const GRANT_NAME = /^[a-z0-9][a-z0-9_.-]*$/

/** `omni plugin keygen`: a new ed25519 key, optionally made a root or granted as a publisher. */
export function registerKeygen(plugin: Command): void {
  const cmd = plugin
    .command('keygen')
    .summary('create a signing key; --root makes it a trust store root, --grant-with a publisher up to --tier')
    .description(
      'Create an ed25519 signing key: <out>/<name>.key (private, mode 0600, never overwritten) and <name>.pub; prints its key id. ' +
        'With --root it becomes a root of the trust store (its .pub copied to <trust>/roots/) and, when the store has none yet, an empty revocation list signed by it is written. ' +
        'With --grant-with <root.key> --tier <tier> a root grants it as a publisher up to that tier (<trust>/publishers/<name>.dsse.json).',
    )
    .argument('<name>', 'key name: letters, digits, ".", "_", "-" (lower case when it becomes a grant)')
    .option('--out <dir>', 'folder for <name>.key and <name>.pub', '.')
    .option('--root', 'make it a root key of the trust store')
    .option('--grant-with <root.key>', 'the root\'s private key that grants the new key as a publisher (needs --tier)')
    .option('--tier <tier>', 'highest tier the granted key may sign: alpha, community, private, verified, core', parseTier('--tier'))
    .option('--expires <when>', `with --root: when the new revocation list expires (default ${REVOCATIONS_DAYS}d); with --grant-with: when the grant ends (default ${GRANT_DAYS}d). A duration (90d, 12h, 52w, 2y), a date or a timestamp`, parseExpiry('--expires'))
  addPluginFlags(cmd, ['trust', 'data']).action(async (name: string, opts: KeygenOptions) => {
    const mode = checkMode(name, opts)
    const trustDir = pluginSettingsFrom({ trust: opts.trust, data: opts.data }).trust
    // everything that can be refused is checked before the key is written
    const grant = mode === 'grant' ? await prepareGrant(name, opts, trustDir) : undefined
    const rootFile = join(trustDir, 'roots', `${name}.pub`)
    if (mode === 'root') await refuseExisting(rootFile, 'a root key with this name')

    const key = generateSigningKey()
    const files = await writeSigningKey(resolve(opts.out), name, key)
    say(`keyid    ${files.keyid}`)
    say(`private  ${files.privateKeyFile} (mode 0600: keep it secret, keep a backup)`)
    say(`public   ${files.publicKeyFile}`)
    if (mode === 'root') await makeRoot(key, { publicKeyFile: files.publicKeyFile, rootFile, trustDir, expires: opts.expires })
    if (grant) {
      const expiresAt = opts.expires ?? daysFromNow(GRANT_DAYS)
      const file = await writeKeyGrant(trustDir, grant.root, { publicKey: key.publicKey, name, maxTier: grant.tier, expiresAt })
      say(`grant    ${file}: may sign up to tier ${grant.tier} until ${expiresAt}, granted by root ${grant.root.keyid}`)
    }
  })
}

function checkMode(name: string, opts: KeygenOptions): 'plain' | 'root' | 'grant' {
  if (opts.root && opts.grantWith) throw omniError('OMNI_ERR_CONFIG', '--root and --grant-with exclude each other: a key is either a root or a publisher granted by one')
  if (opts.grantWith && opts.tier === undefined) throw omniError('OMNI_ERR_CONFIG', '--grant-with needs --tier <tier>: the highest tier the new key may sign')
  if (!opts.grantWith && opts.tier !== undefined) throw omniError('OMNI_ERR_CONFIG', '--tier only applies with --grant-with <root.key>')
  if (!opts.root && !opts.grantWith && opts.expires !== undefined) throw omniError('OMNI_ERR_CONFIG', '--expires only applies with --root (the revocation list) or --grant-with (the grant)')
  if ((opts.root || opts.grantWith) && (!GRANT_NAME.test(name) || name.length > 64)) {
    throw omniError('OMNI_ERR_CONFIG', `key name "${name}" cannot name a trust store entry: lower-case letters, digits, ".", "_" and "-", at most 64 characters`)
  }
  return opts.root ? 'root' : opts.grantWith ? 'grant' : 'plain'
}

async function prepareGrant(name: string, opts: KeygenOptions, trustDir: string): Promise<{ root: SigningKey; tier: Tier }> {
  const trust = await openTrustStore(trustDir)
  const file = resolve(opts.grantWith as string)
  const root = await readSigningKey(file)
  requireRoot(trust, root.keyid, file)
  await refuseExisting(join(trustDir, 'publishers', `${name}.dsse.json`), 'a publisher grant with this name')
  return { root, tier: opts.tier as Tier }
}

/** Copies the new key's .pub into <trust>/roots/ and, when the store has no list yet, writes an empty one it signs. */
async function makeRoot(key: SigningKey, where: { publicKeyFile: string; rootFile: string; trustDir: string; expires: string | undefined }): Promise<void> {
  const { publicKeyFile, rootFile, trustDir, expires } = where
  await mkdir(join(trustDir, 'roots'), { recursive: true })
  await copyFile(publicKeyFile, rootFile, constants.COPYFILE_EXCL)
  say(`root     ${rootFile}`)
  const listFile = join(trustDir, REVOCATIONS_FILE)
  if (await exists(listFile)) {
    say(`revocations  kept the existing ${listFile}${expires ? ' (--expires not applied; `omni plugin revoke` re-signs it)' : ''}`)
  } else {
    const expiresAt = expires ?? defaultRevocationsExpiry(new Date())
    await writeRevocationList(trustDir, key, { issuedAt: isoSeconds(new Date()), expiresAt, revokedKeys: [], yanked: [] })
    say(`revocations  ${listFile}: empty, expires ${expiresAt} (re-sign it before then with \`omni plugin revoke\`; an expired list refuses every plugin)`)
  }
  // the store must load as written: a root that does not verify its own list is caught now
  await loadTrustStore(trustDir)
}

async function refuseExisting(file: string, what: string): Promise<void> {
  if (await exists(file)) throw omniError('OMNI_ERR_CONFIG', `${file} already exists: ${what} is already in the trust store; pick another name`)
}

async function exists(file: string): Promise<boolean> {
  return access(file).then(
    () => true,
    () => false,
  )
}
