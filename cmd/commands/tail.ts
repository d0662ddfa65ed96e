import type { Command } from 'commander'
import { DeliverPolicy } from '@nats-io/jetstream'
import { EVENTS_STREAM } from '../../src/jetstream/topology.ts'
import { addEnvOption, NATS_URL, natsUrl } from '../lib/options.ts'
import { parseIntOption } from '../lib/parse.ts'
import { openSession } from '../lib/session.ts'

interface TailOptions {
  nats?: string
  all?: boolean
  last?: boolean
  count?: number
  json?: boolean
}

const decoder = new TextDecoder()

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
    const session = await openSession(natsUrl(opts.nats))
    const deliver = opts.all ? { deliver_policy: DeliverPolicy.All } : opts.last ? { deliver_policy: DeliverPolicy.LastPerSubject } : { deliver_policy: DeliverPolicy.New }
    const consumer = await session.js.consumers.get(EVENTS_STREAM, { filter_subjects: subjects, ...deliver })
    const messages = await consumer.consume()
    const stop = () => void messages.close()
    process.once('SIGINT', stop)
    process.once('SIGTERM', stop)
    let seen = 0
    for await (const m of messages) {
      const text = decoder.decode(m.data)
      if (opts.json) process.stdout.write(`${text}\n`)
      else process.stdout.write(formatLine(m.info.streamSequence, m.subject, text))
      if (opts.count !== undefined && ++seen >= opts.count) break
    }
    await session.close()
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
