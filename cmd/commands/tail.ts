import type { Command } from 'commander'
import type { LiveStart } from '../../src/node/mod.ts'
import { addEnvOption, NATS_URL, natsUrl } from '../lib/options.ts'
import { parseIntOption } from '../lib/parse.ts'
import { withNodeClient } from '../lib/session.ts'

interface TailOptions {
  nats?: string
  all?: boolean
  last?: boolean
  count?: number
  json?: boolean
}

export function registerTail(program: Command): void {
  const cmd = program
    .command('tail')
    .description('Follow events as they are stored in the events stream (read-only: nothing is acknowledged).')
    .argument('[subjects...]', 'subject filters', ['omni.>'])
    .option('--all', 'start from the oldest stored event')
    .option('--last', 'start with the last stored event of each subject')
    .option('-n, --count <n>', 'stop after n events', parseIntOption('--count'))
    .option('--json', 'print each event as one JSON line')
  addEnvOption(cmd, NATS_URL, 'NATS server URL').action(async (subjects: string[], opts: TailOptions) => {
    const from: LiveStart = opts.all ? 'all' : opts.last ? 'last-per-subject' : 'new'
    await withNodeClient({ natsUrl: natsUrl(opts.nats) }, async ({ events }) => {
      const live = await events.follow({ subjects, from })
      const stop = () => void live.close()
      process.once('SIGINT', stop)
      process.once('SIGTERM', stop)
      try {
        let seen = 0
        for await (const e of live) {
          if (opts.json) process.stdout.write(`${e.text}\n`)
          else process.stdout.write(formatLine(e.seq, e.subject, e.text))
          if (opts.count !== undefined && ++seen >= opts.count) break
        }
      } finally {
        await live.close()
      }
    })
  })
}

function formatLine(seq: number, subject: string, text: string): string {
  try {
    const e = JSON.parse(text) as { type?: string; time?: string; id?: string; data?: unknown; causationid?: string }
    const data = JSON.stringify(e.data ?? {})
    const cause = e.causationid ? ` ← ${e.causationid}` : ''
    return `${e.time ?? '?'}  #${seq}  ${subject}  ${e.type ?? '?'}  ${e.id ?? '?'}${cause}  ${data.length > 160 ? `${data.slice(0, 157)}...` : data}\n`
  } catch {
    return `#${seq}  ${subject}  (not JSON, ${text.length} bytes)\n`
  }
}
