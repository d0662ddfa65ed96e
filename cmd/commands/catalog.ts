import type { Command } from 'commander'
import type { ObservedCatalog } from '../../src/clickhouse/observed.ts'
import { omniError } from '../../src/errors/mod.ts'
import { clickHouseConfigFrom, withClickHouseOptions, type ClickHouseCliOptions } from '../lib/clickhouse-options.ts'
import { addEnvOption, MANIFESTS, manifestsPath } from '../lib/options.ts'
import { formatTable } from '../lib/output.ts'
import { withQueryClient } from '../lib/session.ts'

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
    // the listing shows the cartridges even when the manifests do not load
    const listing = (manifests?: string) => withQueryClient({ ...(manifests !== undefined ? { manifests } : {}) }, async ({ catalog }) => ({ cartridges: catalog.actions().cartridges, declared: catalog.declared() }))
    const { cartridges, declared } = await listing(manifestsPath(opts.manifests)).catch(() => listing())
    // the JSON keeps the field order it has always had
    const eventTypes = declared.map((e) => ({ type: e.type, version: e.version, subject: e.subject, visibility: e.visibility, idempotency: e.idempotency, fanout: e.fanout, description: e.description }))
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
  const scope = { ...(opts.instance !== undefined ? { instance: opts.instance } : {}), ...(opts.tenant !== undefined ? { tenant: opts.tenant } : {}) }
  const result = await withQueryClient({ manifests: manifestsPath(opts.manifests), clickhouse: clickHouseConfigFrom(opts) }, async ({ catalog, manifests }) => {
    if (manifests && manifests.problems.length > 0) process.stderr.write(`warning: ${manifests.problems.length} problem(s) in the manifests (see omni validate); mapping uses the ${manifests.pipelines} pipeline(s) that loaded\n`)
    const { declared: _, ...found } = await catalog.observed(scope)
    return found
  })
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
