import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Command } from 'commander'
import { isOmniError } from '../../src/errors/mod.ts'
import {
  isAdditiveTier,
  MANIFEST_FILE,
  openApprovals,
  openPluginRegistry,
  parsePluginManifest,
  verifyPlugin,
  widenedCapabilities,
  type Approvals,
  type Tier,
  type TrustStore,
} from '../../src/plugins/mod.ts'
import { addPluginFlags } from './plugin-flags.ts'
import { pluginSettingsFrom, type PluginCliOptions } from './plugin-options.ts'
import { openTrust, say, withSession } from './plugin-shared.ts'
import { DEFAULT_NATS_URL, formatTable } from './shared.ts'

interface ListOptions extends PluginCliOptions {
  registry?: boolean
  nats?: string
  json?: boolean
  data: string
}

/** One installed plugin folder as listed; `error` is why it fails verification. */
interface InstalledRow {
  folder: string
  id: string
  version: string
  serial: number | null
  tier: string
  runtime: string
  additive: boolean | null
  verified: boolean
  digest: string | null
  error?: { code: string; message: string }
  approval?: { state: 'approved' | 'none' | 'widened' | 'unknown'; by?: string; widened?: string[] }
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
    .option('--nats <url>', `NATS server URL: adds the approval column; the registry is read from it (default ${DEFAULT_NATS_URL} with --registry)`)
    .option('--json', 'print JSON')
  addPluginFlags(cmd, ['plugins', 'trust', 'cluster', 'data']).action(async (opts: ListOptions) => {
    const settings = pluginSettingsFrom(opts, opts.data)
    if (opts.registry) return listRegistry(opts.nats ?? DEFAULT_NATS_URL, opts.json === true)
    const trust = await openTrust(settings.trust)
    const folders = await pluginFolders(settings.dir)
    const rows: InstalledRow[] = []
    const inspectAll = async (approvals?: Approvals) => {
      for (const folder of folders) rows.push(await inspect(join(settings.dir, folder), folder, trust, settings.cluster, approvals))
    }
    if (opts.nats !== undefined) await withSession(opts.nats, async ({ js }) => inspectAll(await openApprovals(js)))
    else await inspectAll()
    if (opts.json) return say(JSON.stringify(rows, null, 2))
    if (rows.length === 0) return say(`no plugins installed in ${settings.dir}`)
    printInstalled(rows, opts.nats !== undefined)
  })
}

async function pluginFolders(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return []
    throw err
  })
  // dot-folders are installs in progress or replaced ones on their way out
  return entries.filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => e.name).sort()
}

async function inspect(dir: string, folder: string, trust: TrustStore, cluster: string, approvals: Approvals | undefined): Promise<InstalledRow> {
  try {
    const v = await verifyPlugin(dir, trust, { cluster })
    const m = v.manifest
    const row: InstalledRow = { folder, id: m.id, version: m.version, serial: m.serial, tier: m.tier, runtime: m.runtime, additive: isAdditiveTier(m.tier), verified: true, digest: v.digest }
    if (approvals) {
      const approved = await approvals.get(m.id)
      const widened = approved ? widenedCapabilities(v, approved) : []
      row.approval = !approved ? { state: 'none' } : widened.length > 0 ? { state: 'widened', by: approved.approvedBy, widened } : { state: 'approved', by: approved.approvedBy }
    }
    return row
  } catch (err) {
    if (!isOmniError(err)) throw err
    // what the folder claims to be, unverified, only so the row can be recognised
    const claimed = await readFile(join(dir, MANIFEST_FILE)).then((bytes) => parsePluginManifest(bytes, MANIFEST_FILE)).catch(() => undefined)
    return {
      folder,
      id: claimed?.id ?? folder,
      version: claimed?.version ?? '?',
      serial: claimed?.serial ?? null,
      tier: claimed?.tier ?? '?',
      runtime: claimed?.runtime ?? '?',
      additive: claimed ? isAdditiveTier(claimed.tier) : null,
      verified: false,
      digest: null,
      error: { code: err.code, message: err.message },
      ...(approvals ? { approval: { state: 'unknown' as const } } : {}),
    }
  }
}

function printInstalled(rows: readonly InstalledRow[], withApproval: boolean): void {
  const approvalCell = (r: InstalledRow) => {
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
    ...(r.approval?.state === 'none' ? [`${r.folder}: not approved yet: omni plugin approve ${r.id} --by <name>`] : []),
  ])
  if (notes.length > 0) process.stdout.write(`\n${notes.join('\n')}\n`)
}

async function listRegistry(url: string, json: boolean): Promise<void> {
  const entries = await withSession(url, async ({ js }) => (await openPluginRegistry(js)).list())
  if (json) return say(JSON.stringify(entries.map((e) => ({ ...e, additive: isAdditiveTier(e.tier as Tier) })), null, 2))
  if (entries.length === 0) return say('no plugins published')
  const head = ['ID', 'VERSION', 'SERIAL', 'TIER', 'ADDITIVE', 'SIGNER', 'DIGEST', 'SIZE', 'PUBLISHED']
  const body = entries.map((e) => [e.id, e.version, String(e.serial), e.tier, isAdditiveTier(e.tier as Tier) ? 'yes' : 'no', e.signer, e.digest.slice(0, 12), String(e.size), e.mtime])
  process.stdout.write(formatTable([head, ...body]))
}
