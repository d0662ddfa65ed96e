import type { Command } from 'commander'
import { registerQuery } from './query.ts'

/** `omni events …`: the events recorded in ClickHouse. */
export function registerEvents(program: Command): void {
  const events = program.command('events').description('Read the events recorded in ClickHouse.')
  registerQuery(events)
}
