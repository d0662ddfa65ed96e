import type { Command } from 'commander'
import { natsUrl } from '../../lib/options.ts'
import { deadLetterBody } from '../../../src/node/mod.ts'
import { withNodeClient } from '../../lib/session.ts'
import { filterOf, withFilters, type DlqOptions } from './filters.ts'

/** `omni dlq list`. */
export function registerList(dlq: Command): void {
  withFilters(dlq.command('list').description('List dead letters with their pipeline, stage, error and attempts.'))
    .option('--json', 'print JSON')
    .action(async (opts: DlqOptions & { json?: boolean }) => {
      await withNodeClient({ natsUrl: natsUrl(opts.nats) }, async ({ deadLetters }) => {
        const letters = await deadLetters.list(filterOf(opts))
        if (opts.json) {
          const out = letters.map(({ data, ...rest }) => ({ ...rest, event: deadLetterBody(data) }))
          process.stdout.write(`${JSON.stringify(out, null, 2)}\n`)
          return
        }
        if (letters.length === 0) process.stdout.write('no dead letters\n')
        for (const l of letters) {
          process.stdout.write(
            `#${l.seq}  ${l.failedAt}  pipeline=${l.pipeline} stage=${l.stage} attempts=${l.attempts} type=${l.type ?? '?'} from=${l.originalSubject}#${l.originalSeq}\n    ${l.error}\n`,
          )
        }
      })
    })
}
