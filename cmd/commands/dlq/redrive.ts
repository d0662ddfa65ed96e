import type { Command } from 'commander'
import { progressBar } from '../../lib/progress.ts'
import { natsUrl } from '../../lib/options.ts'
import { withNodeClient } from '../../lib/session.ts'
import { filterOf, withFilters, type DlqOptions } from './filters.ts'

/** `omni dlq redrive`. */
export function registerRedrive(dlq: Command): void {
  withFilters(dlq.command('redrive').description('Send matching dead letters back to their own pipeline and remove them from the DLQ. Safe to run twice.'))
    .option('--dry-run', 'only say what would be redriven')
    .action(async (opts: DlqOptions & { dryRun?: boolean }) => {
      await withNodeClient({ natsUrl: natsUrl(opts.nats) }, async ({ deadLetters }) => {
        let bar: ReturnType<typeof progressBar> | undefined
        // the node recorded which pipelines it runs: a pipeline removed through the API is refused here too
        const result = await deadLetters.redrive(filterOf(opts), {
          dryRun: opts.dryRun === true,
          onProgress: (done, total) => {
            bar ??= progressBar('redriving', total)
            bar.update(done)
          },
        })
        bar?.stop()
        if (result.dryRun) process.stdout.write(`${result.letters.length} dead letter(s) would be redriven\n`)
        else process.stdout.write(`redriven: ${result.redriven}, already redriven before: ${result.duplicates}\n`)
      })
    })
}
