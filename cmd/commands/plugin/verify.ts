import { access } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import type { Command } from 'commander'
import { omniError } from '../../../src/errors/mod.ts'
import {
  isAdditiveTier,
  MANIFEST_FILE,
  openApprovals,
  openHighWaterMarks,
  openTrustStore,
  verifyPlugin,
  type TrustStore,
  type VerifiedPlugin,
} from '../../../src/plugins/mod.ts'
import { addPluginFlags, pluginSettingsFrom, type PluginCliOptions } from '../../lib/plugin-options.ts'
import { say } from '../../lib/output.ts'
import { withSession } from '../../lib/session.ts'
import { describeKey } from '../../lib/trust.ts'

interface VerifyOptions extends PluginCliOptions {
  data: string
  tenant?: string
  nats?: string
}

/** `omni plugin verify`. */
export function registerVerify(plugin: Command): void {
  const cmd = plugin
    .command('verify')
    .summary('check a plugin folder as a node would; with --nats its high-water mark and approval too')
    .description(
      'Verify a plugin folder as a node would before loading it: signature, trust and tier of the signing key, revocations, dates, audience and every file\'s size and sha256; prints each check that passed. ' +
        'With --nats also compares its serial with the cluster\'s high-water mark (read only: verify records nothing; install does) and checks its capabilities were approved. Exits 1 on the first failed check.',
    )
    .argument('<dir>', 'the signed plugin folder')
    .option('--tenant <name>', 'also check this tenant is in the plugin\'s audience.tenants')
    .option('--nats <url>', 'also check the high-water mark and the approval on this NATS server')
  addPluginFlags(cmd, ['trust', 'cluster', 'data']).action(async (dir: string, opts: VerifyOptions) => {
    const settings = pluginSettingsFrom(opts)
    const trust = await openTrustStore(settings.trust)
    const v = await verifyPlugin(resolve(dir), trust, { cluster: settings.cluster, ...(opts.tenant !== undefined ? { tenant: opts.tenant } : {}) })
    for (const line of await verifiedLines(v, { trust, cluster: settings.cluster, ...(opts.tenant !== undefined ? { tenant: opts.tenant } : {}) })) say(line)
    if (opts.nats !== undefined) {
      await withSession(opts.nats, async ({ js }) => {
        say(highWaterLine(v, await (await openHighWaterMarks(js)).get(v.manifest.id)))
        const approval = await (await openApprovals(js)).check(v)
        say(`ok  approval    approved by ${approval.approvedBy} at ${approval.approvedAt} (version ${approval.version}, serial ${approval.serial}); nothing asked beyond it`)
      })
    }
    say(`verified ${v.manifest.id}@${v.manifest.version} serial ${v.manifest.serial}, digest sha256:${v.digest}`)
  })
}

/** One line per check `verifyPlugin` passed, with what it checked. */
export async function verifiedLines(v: VerifiedPlugin, { trust, cluster, tenant }: { trust: TrustStore; cluster: string; tenant?: string }): Promise<string[]> {
  const m = v.manifest
  const list = trust.revocations
  const files = m.entry.files.map((f) => `${f.path} (${f.size} bytes)`).join(', ')
  const readable = await access(join(v.dir, MANIFEST_FILE)).then(
    () => `${MANIFEST_FILE} is the signed manifest`,
    () => `no ${MANIFEST_FILE} (the manifest is read from the envelope)`,
  )
  const path = isAdditiveTier(m.tier) ? 'runs additively, beside the approved path' : 'runs on the approved path'
  return [
    `ok  signature   ed25519 signature of plugin.dsse.json verifies with ${describeKey(trust, v.keyid)}`,
    `ok  tier        ${m.tier} (${path}) is within what the key may sign; runtime ${m.runtime}`,
    `ok  revocation  the list is valid until ${list?.expiresAt ?? '?'}; neither the key nor its root is revoked; ${m.id}@${m.version} is not yanked`,
    `ok  dates       issued ${m.issuedAt}, expires ${m.expiresAt}`,
    `ok  audience    cluster "${cluster}" is in [${m.audience.clusters.join(', ')}]${tenant !== undefined ? `, tenant "${tenant}" in [${m.audience.tenants.join(', ')}]` : ''}`,
    `ok  files       ${readable}; ${m.entry.files.length} file(s) match their size and sha256: ${files}; nothing else in the folder`,
  ]
}

/**
 * The high-water check without recording anything: verify is read only, so it compares with the
 * mark itself instead of calling `check`, which records a newer serial.
 */
function highWaterLine(v: VerifiedPlugin, mark: { serial: number; digest: string; version?: string } | undefined): string {
  const { id, version, serial } = v.manifest
  if (!mark) return `ok  high-water  no serial recorded for ${id} yet; installing records serial ${serial}`
  const seen = `serial ${mark.serial}${mark.version ? ` (version ${mark.version})` : ''}`
  if (serial < mark.serial) throw omniError('OMNI_ERR_PLUGIN_ROLLBACK', `${id}@${version} has serial ${serial}, older than ${seen} already seen; nodes refuse it as a rollback`)
  if (serial === mark.serial && v.digest !== mark.digest) {
    throw omniError('OMNI_ERR_PLUGIN_ROLLBACK', `${id}@${version} has serial ${serial}, the same as the one already seen, but another manifest digest (${v.digest}, recorded ${mark.digest}); re-sign it with --serial next`)
  }
  return serial === mark.serial ? `ok  high-water  serial ${serial} with this digest is the one recorded` : `ok  high-water  serial ${serial} is newer than the recorded ${seen}`
}
