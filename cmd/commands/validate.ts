import type { Command } from 'commander'
import { getCartridge } from '../../src/cartridges/mod.ts'
import { loadManifests } from '../../src/manifests/load.ts'
import { manifestsOption } from '../lib/options.ts'

export function registerValidate(program: Command): void {
  program
    .command('validate')
    .description('Check catalogs, pipelines, webhook sources and mesh manifests (schema, cartridges, `with`, needs, cycles, CEL, outputs; a mesh manifest\'s names, roles, credential files and trust rules) without running anything. Exits 1 on any problem.')
    .argument('[paths...]', 'manifest files or folders (default: $OMNI_MANIFESTS, else ./manifests)')
    .option('--json', 'print the problems as JSON')
    .action(async (paths: string[], opts: { json?: boolean }) => {
      const loaded = await loadManifests(paths.length > 0 ? paths : [manifestsOption(undefined)], getCartridge)
      if (opts.json) {
        process.stdout.write(`${JSON.stringify({ ok: loaded.problems.length === 0, files: loaded.files, problems: loaded.problems }, null, 2)}\n`)
      } else if (loaded.problems.length > 0) {
        for (const p of loaded.problems) process.stderr.write(`${p.where}: ${p.message}\n`)
        process.stderr.write(`\n${loaded.problems.length} problem(s) in ${loaded.files.length} file(s)\n`)
      } else {
        const stages = loaded.pipelines.reduce((n, p) => n + p.levels.flat().length, 0)
        process.stdout.write(
          `ok: ${loaded.files.length} file(s), ${loaded.catalog.entries.length} event type(s), ${loaded.pipelines.length} pipeline(s), ${stages} stage(s), ${loaded.webhooks.length} webhook source(s)\n`,
        )
      }
      process.exitCode = loaded.problems.length > 0 ? 1 : 0
    })
}
