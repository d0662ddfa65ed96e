import type { Command } from 'commander'
import { cartridgeListing, getCartridge } from '../../src/cartridges/mod.ts'
import { observedCatalog, type ObservedCatalog } from '../../src/clickhouse/observed.ts'
import { omniError } from '../../src/errors/mod.ts'
import { loadManifests } from '../../src/manifests/load.ts'
import { withClickHouse, withClickHouseOptions, type ClickHouseCliOptions } from '../lib/clickhouse-options.ts'
import { addEnvOption, MANIFESTS, manifestsPath } from '../lib/options.ts'
import { formatTable } from '../lib/output.ts'

interface CatalogOptions extends ClickHouseCliOptions {
  json?: boolean
  manifests?: string
  observed?: boolean
  instance?: string
  tenant?: string
}

export function registerCatalog(program: Command): void {
  const cmd = program
    .command('catalog')
    .description('List the built-in cartridges (the marketplace listing) and the event types the manifests declare. With --observed: the event types each instance has sent (from ClickHouse), which pipelines map them, and the gaps.')
    .option('--json', 'print the listing as JSON (with each cartridge\'s config schema)')
  withClickHouseOptions(
    addEnvOption(cmd, MANIFESTS, 'manifests folder for the event types and pipelines')
      .option('--observed', 'event types observed per instance, with counts, first/last seen, and mapped or unmapped by the loaded pipelines')
      .option('--instance <instance>', 'with --observed: only this instance')
      .option('--tenant <tenant>', 'with --observed: only this tenant'),
  ).action(async (opts: CatalogOptions) => {
    if (opts.observed) return observed(opts)
    if (opts.instance !== undefined || opts.tenant !== undefined) throw omniError('OMNI_ERR_CONFIG', '--instance and --tenant only apply with --observed')
    const cartridges = cartridgeListing()
    const loaded = await loadManifests(manifestsPath(opts.manifests), getCartridge).catch(() => undefined)
    const eventTypes = (loaded?.catalog.entries ?? []).map((e) => ({
      type: e.type,
      version: e.version,
      subject: e.subject,
      visibility: e.visibility,
      idempotency: e.idempotency,
      fanout: e.fanout.map((t) => t.subject),
      description: e.description,
    }))
    if (opts.json) {
      process.stdout.write(`${JSON.stringify({ cartridges, eventTypes }, null, 2)}\n`)
      return
    }
    process.stdout.write('Cartridges\n')
    const width = Math.max(...cartridges.map((c) => c.id.length))
    for (const c of cartridges) process.stdout.write(`  ${c.id.padEnd(width)}  ${c.phase.padEnd(9)}  ${c.title}\n`)
    if (eventTypes.length > 0) {
      process.stdout.write('\nEvent types\n')
      for (const e of eventTypes) process.stdout.write(`  ${e.type} v${e.version}  → ${e.subject}${e.fanout.length ? `  (fan-out: ${e.fanout.join(', ')})` : ''}\n`)
    }
  })
}

/** Observed vs mapped vs declared: what arrives, what a pipeline handles, what never came. */
async function observed(opts: CatalogOptions): Promise<void> {
  // a missing folder is an error here (the mapping depends on it); problems in single files are
  // not: the pipelines that did load still count
  const loaded = await loadManifests(manifestsPath(opts.manifests), getCartridge)
  if (loaded.problems.length > 0) process.stderr.write(`warning: ${loaded.problems.length} problem(s) in the manifests (see omni validate); mapping uses the ${loaded.pipelines.length} pipeline(s) that loaded\n`)
  const scope = { ...(opts.instance !== undefined ? { instance: opts.instance } : {}), ...(opts.tenant !== undefined ? { tenant: opts.tenant } : {}) }
  const result = await withClickHouse(opts, (ch) => observedCatalog(ch, scope, loaded.pipelines, loaded.catalog.entries))
  if (opts.json) {
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`)
    return
  }
  process.stdout.write(formatObserved(result))
}

function formatObserved(r: ObservedCatalog): string {
  let out = ''
  if (r.observed.length === 0) out += 'no events observed\n'
  else {
    const rows = r.observed.map((o) => [o.instance || '(none)', o.type, String(o.count), o.firstSeen, o.lastSeen, o.declared ? o.status : `${o.status}, undeclared`, o.mapped.join(', ') || '-'])
    out += formatTable([['INSTANCE', 'TYPE', 'EVENTS', 'FIRST SEEN', 'LAST SEEN', 'STATUS', 'PIPELINES'], ...rows])
  }
  if (r.notObserved.length > 0) {
    out += '\nDeclared, not observed\n'
    out += formatTable(r.notObserved.map((d) => [`  ${d.type} v${d.version}`, d.subject, d.mapped.length ? `mapped by ${d.mapped.join(', ')}` : 'unmapped']))
  }
  return out
}
