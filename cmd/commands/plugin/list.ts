import type { Command } from 'commander'
import { localPlugins, type PluginHostOptions } from '../../../src/node/mod.ts'
import { isAdditiveTier, type InstalledPlugin, type Tier } from '../../../src/plugins/mod.ts'
import { addPluginFlags, pluginSettingsFrom, type PluginCliOptions } from '../../lib/plugin-options.ts'
import { NATS_URL, natsUrl } from '../../lib/options.ts'
import { formatTable, say } from '../../lib/output.ts'
import { withNodeClient } from '../../lib/session.ts'

interface ListOptions extends PluginCliOptions {
  registry?: boolean
  nats?: string
  json?: boolean
  data: string
}

/** `omni plugin list`. */
export function registerList(plugin: Command): void {
  const cmd = plugin
    .command('list')
    .summary('installed plugins (or --registry) with tier, runtime, verified and approved state')
    .description(
      'List installed plugins (<plugins>/<id>/, dot-folders skipped) with id, version, serial, tier, runtime, whether it runs additively, and whether it verifies (or why not); with --nats also whether its capabilities are approved. ' +
        'With --registry, list what is published in the cluster\'s registry instead.',
    )
    .option('--registry', 'list the registry (object store) instead of the installed folders')
    .option('--nats <url>', `NATS server URL: adds the approval column; the registry is read from it (with --registry the default is $${NATS_URL.env}, else ${JSON.stringify(NATS_URL.fallback)})`)
    .option('--json', 'print JSON')
  addPluginFlags(cmd, ['plugins', 'trust', 'cluster', 'data']).action(async (opts: ListOptions) => {
    const settings = pluginSettingsFrom(opts)
    if (opts.registry) return listRegistry({ url: natsUrl(opts.nats), settings, json: opts.json === true })
    // without --nats only this host's folders are read: no approvals, no connection
    const rows = opts.nats !== undefined ? await withNodeClient({ natsUrl: opts.nats, plugins: settings }, ({ plugins }) => plugins.installed()) : await localPlugins(settings).installed({ approvals: false })
    if (opts.json) return say(JSON.stringify(rows, null, 2))
    if (rows.length === 0) return say(`no plugins installed in ${settings.dir}`)
    printInstalled(rows, { withApproval: opts.nats !== undefined })
  })
}

function printInstalled(rows: readonly InstalledPlugin[], { withApproval }: { withApproval: boolean }): void {
  const approvalCell = (r: InstalledPlugin) => {
    const a = r.approval
    if (!a || a.state === 'unknown') return '-'
    if (a.state === 'none') return 'no'
    return a.state === 'approved' ? `yes (${a.by})` : `widened: ${a.widened?.length ?? 0} capabilit${a.widened?.length === 1 ? 'y' : 'ies'}`
  }
  const head = ['ID', 'VERSION', 'SERIAL', 'TIER', 'RUNTIME', 'ADDITIVE', ...(withApproval ? ['APPROVED'] : []), 'VERIFIED']
  const body = rows.map((r) => [
    r.id,
    r.version,
    r.serial === null ? '?' : String(r.serial),
    r.tier,
    r.runtime,
    r.additive === null ? '?' : r.additive ? 'yes' : 'no',
    ...(withApproval ? [approvalCell(r)] : []),
    r.verified ? 'ok' : `no: ${r.error?.code}`,
  ])
  process.stdout.write(formatTable([head, ...body]))
  // the reasons are long: below the table, one per plugin that needs attention
  const notes = rows.flatMap((r) => [
    ...(r.error ? [`${r.folder}: ${r.error.code}: ${r.error.message}`] : []),
    ...(r.approval?.state === 'widened' ? [`${r.folder}: needs approval: ${r.approval.widened?.join('; ')}`] : []),
    ...(r.approval?.state === 'none' ? [`${r.folder}: not approved yet: omni plugin approve ${r.id}`] : []),
  ])
  if (notes.length > 0) process.stdout.write(`\n${notes.join('\n')}\n`)
}

async function listRegistry({ url, settings, json }: { url: string; settings: PluginHostOptions; json: boolean }): Promise<void> {
  const entries = await withNodeClient({ natsUrl: url, plugins: settings }, ({ plugins }) => plugins.published())
  if (json) return say(JSON.stringify(entries.map((e) => ({ ...e, additive: isAdditiveTier(e.tier as Tier) })), null, 2))
  if (entries.length === 0) return say('no plugins published')
  const head = ['ID', 'VERSION', 'SERIAL', 'TIER', 'ADDITIVE', 'SIGNER', 'DIGEST', 'SIZE', 'PUBLISHED']
  const body = entries.map((e) => [e.id, e.version, String(e.serial), e.tier, isAdditiveTier(e.tier as Tier) ? 'yes' : 'no', e.signer, e.digest.slice(0, 12), String(e.size), e.mtime])
  process.stdout.write(formatTable([head, ...body]))
}
