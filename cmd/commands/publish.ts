import { readFile } from 'node:fs/promises'
import type { Command } from 'commander'
import { isOmniError, omniError } from '../../src/errors/mod.ts'
import type { EventInput } from '../../src/ingest/prepare.ts'
import { addEnvOption, manifestsPath, MANIFESTS, NATS_URL, natsUrl } from '../lib/options.ts'
import { progressBar } from '../lib/progress.ts'
import { withNodeClient } from '../lib/session.ts'

interface PublishOptions {
  nats?: string
  manifests?: string
  file?: string
  tenant?: string
  instance?: string
  provider?: string
  actor?: string
  conversation?: string
  key?: string
}

export function registerPublish(program: Command): void {
  const cmd = program
    .command('publish')
    .description('Validate events against the catalog and publish them; the idempotency key becomes Nats-Msg-Id, so a repeat is stored once.')
    .argument('[type]', 'event type, e.g. message.received')
    .argument('[data]', 'the event data as JSON')
    .option('-f, --file <path>', 'publish every line of a JSON-lines file (each an event with type and data); - reads stdin')
    .option('--tenant <id>', 'tenant', 'default')
    .option('--instance <id>', 'instance (a provider connection)')
    .option('--provider <id>', 'provider, e.g. whatsapp')
    .option('--actor <id>', 'who caused the event')
    .option('--conversation <id>', 'conversation id')
    .option('--key <key>', 'idempotency key (default: derived from the catalog fields)')
  addEnvOption(cmd, NATS_URL, 'NATS server URL')
  addEnvOption(cmd, MANIFESTS, 'manifests folder with the event catalog')
    .addHelpText('after', `\nExample:\n  omni publish message.received '{"kind":"text","text":"hi","providerMessageId":"m1","fromSelf":false,"forwarded":false}' --provider whatsapp --instance phone-1`)
    .action(async (type: string | undefined, data: string | undefined, opts: PublishOptions) => {
      const inputs = opts.file ? await readLines(opts.file) : [{ line: 0, input: singleInput(type, data, opts) }]
      let published = 0
      let duplicates = 0
      await withNodeClient({ natsUrl: natsUrl(opts.nats), manifests: manifestsPath(opts.manifests) }, async ({ ingest }) => {
        const bar = inputs.length > 20 ? progressBar('publishing', inputs.length) : undefined
        try {
          for (const { line, input } of inputs) {
            try {
              const r = await ingest.event(input, { tenant: opts.tenant ?? 'default' })
              if (r.duplicate) duplicates++
              else published++
              if (!bar) {
                const note = r.duplicate ? 'duplicate: already stored, not processed again' : 'stored'
                process.stdout.write(`${note}: ${r.type} → ${r.subject} seq ${r.seq} key ${r.idempotencykey}\n`)
              }
            } catch (err) {
              // say which line failed; lines already published stay published
              if (line > 0 && isOmniError(err)) throw omniError(err.code, `${opts.file}:${line}: ${err.message} (${published} earlier event(s) were published)`, { problems: err.problems, cause: err })
              throw err
            }
            bar?.increment()
          }
        } finally {
          bar?.stop()
        }
        if (bar) process.stdout.write(`${published} stored, ${duplicates} duplicate(s) dropped by the stream\n`)
      })
    })
}

function singleInput(type: string | undefined, data: string | undefined, opts: PublishOptions): EventInput {
  if (!type) throw omniError('OMNI_ERR_CONFIG', 'give an event type and its data, or --file with JSON lines (see omni publish --help)')
  let parsed: unknown = {}
  if (data !== undefined) {
    try {
      parsed = JSON.parse(data)
    } catch (err) {
      throw omniError('OMNI_ERR_EVENT_INVALID', `data is not valid JSON: ${(err as Error).message}`)
    }
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw omniError('OMNI_ERR_EVENT_INVALID', 'data must be a JSON object')
  const input: Record<string, unknown> = { type, data: parsed }
  for (const k of ['instance', 'provider', 'actor', 'conversation'] as const) if (opts[k]) input[k] = opts[k]
  if (opts.key) input['idempotencykey'] = opts.key
  return input as EventInput
}

async function readLines(file: string): Promise<{ line: number; input: EventInput }[]> {
  const text = file === '-' ? await readStdin() : await readFile(file, 'utf8')
  const out: { line: number; input: EventInput }[] = []
  text.split('\n').forEach((raw, i) => {
    if (raw.trim() === '') return
    try {
      out.push({ line: i + 1, input: JSON.parse(raw) as EventInput })
    } catch (err) {
      throw omniError('OMNI_ERR_EVENT_INVALID', `${file}:${i + 1}: not valid JSON: ${(err as Error).message}`)
    }
  })
  return out
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = []
  for await (const c of process.stdin) chunks.push(c as Buffer)
  return Buffer.concat(chunks).toString('utf8')
}
