import type { Command } from 'commander'
import { listDeadLetters, redriveDeadLetters } from '../../../src/jetstream/dlq.ts'
import { progressBar } from '../../lib/progress.ts'
import { natsUrl } from '../../lib/options.ts'
import { openSession } from '../../lib/session.ts'
import { filterOf, withFilters, type DlqOptions } from './filters.ts'

/** `omni dlq redrive`. */
export function registerRedrive(dlq: Command): void {
  withFilters(dlq.command('redrive').description('Send matching dead letters back to their own pipeline and remove them from the DLQ. Safe to run twice.'))
    .option('--dry-run', 'only say what would be redriven')
    .action(async (opts: DlqOptions & { dryRun?: boolean }) => {
      const session = await openSession(natsUrl(opts.nats))
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
