import type { Command } from 'commander'
import type { DeadLetterFilter } from '../../../src/node/mod.ts'
import { addEnvOption, NATS_URL } from '../../lib/options.ts'
import { parseIntOption } from '../../lib/parse.ts'

/** The flags `dlq list` and `dlq redrive` share, as commander parses them. */
export interface DlqOptions {
  nats?: string
  pipeline?: string
  stage?: string
  type?: string
  error?: string
  limit?: number
}

export function filterOf(o: DlqOptions): DeadLetterFilter {
  return {
    ...(o.pipeline ? { pipeline: o.pipeline } : {}),
    ...(o.stage ? { stage: o.stage } : {}),
    ...(o.type ? { type: o.type } : {}),
    ...(o.error ? { error: o.error } : {}),
    ...(o.limit !== undefined ? { limit: o.limit } : {}),
  }
}

/** Adds the filter flags and --nats. */
export function withFilters(cmd: Command): Command {
  cmd
    .option('-p, --pipeline <name>', 'only this pipeline\'s dead letters')
    .option('--stage <id>', 'only those that failed at this stage')
    .option('--type <type>', 'only this event type')
    .option('--error <text>', 'only those whose error contains this text')
    .option('--limit <n>', 'at most n dead letters', parseIntOption('--limit'))
  return addEnvOption(cmd, NATS_URL, 'NATS server URL')
}
