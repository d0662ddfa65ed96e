import type { Command } from 'commander'
import { stringify } from 'yaml'
import { API_DEFAULTS, resolveApiConfig } from '../../src/api/mod.ts'
import { openApiDocument } from '../../src/api/openapi-document.ts'
import { parseIntOption } from '../lib/parse.ts'

export function registerOpenApi(program: Command): void {
  program
    .command('openapi')
    .description(
      'Print the HTTP API\'s OpenAPI 3 document (what `omni up` serves at /docs/json) as JSON, or YAML with --yaml. Needs no NATS or ClickHouse: the API is built in memory, never listens and reads no data.',
    )
    .option('--yaml', 'print YAML instead of JSON')
    .option('--api-host <host>', 'host named in the document\'s servers entry', process.env['OMNI_API_HOST'] ?? API_DEFAULTS.host)
    .option('--api-port <n>', 'port named in the document\'s servers entry', parseIntOption('--api-port'), Number(process.env['OMNI_API_PORT'] ?? API_DEFAULTS.port))
    .action(async (opts: { yaml?: boolean; apiHost: string; apiPort: number }) => {
      // a reader that stops early (`| head`) is no error
      process.stdout.on('error', (err: NodeJS.ErrnoException) => {
        if (err.code !== 'EPIPE') throw err
      })
      const doc = await openApiDocument(resolveApiConfig({ host: opts.apiHost, port: opts.apiPort }))
      process.stdout.write(opts.yaml ? stringify(doc, { aliasDuplicateObjects: false }) : `${JSON.stringify(doc, null, 2)}\n`)
    })
}
