// Signed plugins for the ledger's plugin scenarios (7 and 10), made the way an operator would:
// a root key, a publisher key it grants, bundles signed by the publisher, approvals in NATS.
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { JetStreamClient } from '@nats-io/jetstream'
import { generateSigningKey, loadTrustStore, openApprovals, publicKeyPem, signPlugin, verifyPlugin, writeKeyGrant, writeRevocationList, type SigningKey, type Tier } from '../../src/plugins/mod.ts'
import type { PluginHostOptions } from '../../src/node/plugin-host.ts'

const DAY = 86_400_000
const CLUSTER = 'local'

export interface LedgerPluginSpec {
  readonly id: string
  readonly tier: Tier
  /** the stage function's source (the code contract: `function stage(input) { … }`) */
  readonly code: string
  readonly memoryMb?: number
}

export interface LedgerPlugins {
  /** what the platform child passes to startNode as `plugins` */
  readonly host: PluginHostOptions
  /** yanks `id`@1.0.0 in a revocation list signed by the root */
  yank(id: string, reason: string): Promise<void>
}

/** Makes a trust store, signs and installs each plugin under `base`, and approves it in NATS. */
export async function makeLedgerPlugins(base: string, js: JetStreamClient, specs: readonly LedgerPluginSpec[]): Promise<LedgerPlugins> {
  const trust = join(base, 'trust')
  const dir = join(base, 'plugins')
  await mkdir(join(trust, 'roots'), { recursive: true })
  const root = generateSigningKey()
  await writeFile(join(trust, 'roots', 'root.pub'), publicKeyPem(root.publicKey))
  const publisher = generateSigningKey()
  const now = Date.now()
  await writeKeyGrant(trust, root, { publicKey: publisher.publicKey, name: 'ledger', maxTier: 'verified', expiresAt: new Date(now + 30 * DAY).toISOString() })
  const revocations = (yanked: { id: string; version: string; reason: string }[]) =>
    writeRevocationList(trust, root, { issuedAt: new Date(now - DAY).toISOString(), expiresAt: new Date(now + 30 * DAY).toISOString(), revokedKeys: [], yanked })
  await revocations([])
  const approvals = await openApprovals(js)
  for (const spec of specs) {
    const bundle = join(dir, spec.id)
    await writeBundle(bundle, spec, publisher, now)
    await approvals.approve(await verifyPlugin(bundle, await loadTrustStore(trust), { cluster: CLUSTER }), 'omni verify ledger')
  }
  const yanked: { id: string; version: string; reason: string }[] = []
  return {
    host: { dir, trust, cluster: CLUSTER, dockerSocket: join(base, 'no-docker.sock'), workDir: join(base, 'sandbox') },
    async yank(id, reason) {
      yanked.push({ id, version: '1.0.0', reason })
      await revocations(yanked)
    },
  }
}

async function writeBundle(dir: string, spec: LedgerPluginSpec, key: SigningKey, now: number): Promise<void> {
  await mkdir(dir, { recursive: true })
  const yaml = [
    'kind: Plugin',
    `id: ${spec.id}`,
    'version: 1.0.0',
    'serial: 1',
    'description: a plugin of omni verify ledger',
    'runtime: isolate',
    `tier: ${spec.tier}`,
    'entry:',
    '  main: stage.js',
    '  files:',
    '    - stage.js',
    'capabilities:',
    '  emit: []',
    `  memoryMb: ${spec.memoryMb ?? 16}`,
    '  timeoutMs: 2000',
    '  network: none',
    "audience: { clusters: ['*'], tenants: ['*'] }",
    `issuedAt: ${new Date(now - DAY).toISOString()}`,
    `expiresAt: ${new Date(now + 30 * DAY).toISOString()}`,
    '',
  ].join('\n')
  await writeFile(join(dir, 'plugin.yaml'), yaml)
  await writeFile(join(dir, 'stage.js'), spec.code)
  await signPlugin(dir, key, { now: new Date(now) })
}

/** Allocates until the isolate's memory limit disposes it: a sandbox crash, not a thrown error. */
export const CRASH_CODE = `function stage(input) {
  const hoard = []
  while (true) hoard.push(new Array(1 << 16).fill(hoard.length))
}
`
/** Crashes its sandbox on poison events only; continues on the others. */
export const CRASH_ON_POISON_CODE = `function stage(input) {
  if (input.event.data.poison !== true) return { type: 'continue' }
  const hoard = []
  while (true) hoard.push(new Array(1 << 16).fill(hoard.length))
}
`
/** Does nothing but continue: a plugin in use, for the revoke scenario. */
export const PASS_CODE = `function stage(input) { return { type: 'continue' } }
`
