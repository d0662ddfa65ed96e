import type { Command } from 'commander'
import { cartridgeListing, getCartridge } from '../../src/cartridges/mod.ts'
import { loadManifests } from '../../src/manifests/load.ts'
import { manifestsPath } from './shared.ts'

export function registerCatalog(program: Command): void {
  program
    .command('catalog')
    .description('List the built-in cartridges (the marketplace listing) and the event types the manifests declare.')
    .option('--json', 'print the listing as JSON (with each cartridge\'s config schema)')
    .option('-m, --manifests <path>', 'manifests folder for the event types')
    .action(async (opts: { json?: boolean; manifests?: string }) => {
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
