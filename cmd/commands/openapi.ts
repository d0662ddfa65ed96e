import type { Command } from 'commander'
import { stringify } from 'yaml'
import { resolveApiConfig } from '../../src/api/mod.ts'
import { openApiDocument } from '../../src/api/openapi-document.ts'
import { API_HOST, API_PORT } from '../lib/api-options.ts'
import { addEnvOption, optionReader } from '../lib/options.ts'

export function registerOpenApi(program: Command): void {
  const cmd = program
    .command('openapi')
    .description(
      'Print the HTTP API\'s OpenAPI 3 document (what `omni up` serves at /docs/json) as JSON, or YAML with --yaml. Needs no NATS or ClickHouse: the API is built in memory, never listens and reads no data.',
    )
    .option('--yaml', 'print YAML instead of JSON')
  addEnvOption(cmd, API_HOST, 'host named in the document\'s servers entry')
  addEnvOption(cmd, API_PORT, 'port named in the document\'s servers entry').action(async (opts: { yaml?: boolean; apiHost?: string; apiPort?: number }) => {
    // a reader that stops early (`| head`) is no error
    process.stdout.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE') throw err
    })
    const reader = optionReader()
    const host = reader.read({ ...API_HOST, value: opts.apiHost }).value
    const port = reader.read({ ...API_PORT, value: opts.apiPort }).value
    reader.done('API options')
    const doc = await openApiDocument(resolveApiConfig({ host, port }))
    process.stdout.write(opts.yaml ? stringify(doc, { aliasDuplicateObjects: false }) : `${JSON.stringify(doc, null, 2)}\n`)
  })
}
