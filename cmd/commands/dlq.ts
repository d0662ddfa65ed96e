import type { Command } from 'commander'
import { listDeadLetters, redriveDeadLetters, type DeadLetterFilter } from '../../src/jetstream/dlq.ts'
import { openSession } from './connect.ts'
import { progressBar } from './progress.ts'
import { DEFAULT_NATS_URL, parseIntOption } from './shared.ts'

interface DlqOptions {
  nats: string
  pipeline?: string
  stage?: string
  type?: string
  error?: string
  limit?: number
  json?: boolean
  dryRun?: boolean
}

function filterOf(o: DlqOptions): DeadLetterFilter {
  return {
    ...(o.pipeline ? { pipeline: o.pipeline } : {}),
    ...(o.stage ? { stage: o.stage } : {}),
    ...(o.type ? { type: o.type } : {}),
    ...(o.error ? { error: o.error } : {}),
    ...(o.limit !== undefined ? { limit: o.limit } : {}),
  }
}

function withFilters(cmd: Command): Command {
  return cmd
    .option('-p, --pipeline <name>', 'only this pipeline\'s dead letters')
    .option('--stage <id>', 'only those that failed at this stage')
    .option('--type <type>', 'only this event type')
    .option('--error <text>', 'only those whose error contains this text')
    .option('--limit <n>', 'at most n dead letters', parseIntOption('--limit'))
    .option('--nats <url>', 'NATS server URL', DEFAULT_NATS_URL)
}

export function registerDlq(program: Command): void {
  const dlq = program.command('dlq').description('Inspect and redrive dead letters (events that failed after the maximum deliveries).')
  withFilters(dlq.command('list').description('List dead letters with their pipeline, stage, error and attempts.'))
    .option('--json', 'print JSON')
    .action(async (opts: DlqOptions) => {
      const session = await openSession(opts.nats)
      try {
        const letters = await listDeadLetters(session.jsm, session.js, filterOf(opts))
        if (opts.json) {
          const out = letters.map(({ data, ...rest }) => ({ ...rest, event: safeJson(data) }))
          process.stdout.write(`${JSON.stringify(out, null, 2)}\n`)
          return
        }
        if (letters.length === 0) process.stdout.write('no dead letters\n')
        for (const l of letters) {
          process.stdout.write(
            `#${l.seq}  ${l.failedAt}  pipeline=${l.pipeline} stage=${l.stage} attempts=${l.attempts} type=${l.type ?? '?'} from=${l.originalSubject}#${l.originalSeq}\n    ${l.error}\n`,
          )
        }
      } finally {
        await session.close()
      }
    })
  withFilters(dlq.command('redrive').description('Send matching dead letters back to their own pipeline and remove them from the DLQ. Safe to run twice.'))
    .option('--dry-run', 'only say what would be redriven')
    .action(async (opts: DlqOptions) => {
      const session = await openSession(opts.nats)
      try {
        if (opts.dryRun) {
          const letters = await listDeadLetters(session.jsm, session.js, filterOf(opts))
          process.stdout.write(`${letters.length} dead letter(s) would be redriven\n`)
          return
        }
        let bar: ReturnType<typeof progressBar> | undefined
        // no fabric here: a pipeline runs when its consumer exists (the default check)
        const result = await redriveDeadLetters(session.jsm, session.js, session.publisher, filterOf(opts), {
          onProgress: (done, total) => {
            bar ??= progressBar('redriving', total)
            bar.update(done)
          },
        })
        bar?.stop()
        process.stdout.write(`redriven: ${result.redriven}, already redriven before: ${result.duplicates}\n`)
      } finally {
        await session.close()
      }
    })
}

function safeJson(data: Uint8Array): unknown {
  const text = new TextDecoder().decode(data)
  try {
    return JSON.parse(text)
  } catch {
    return text
  }
}
