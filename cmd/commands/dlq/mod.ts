import type { Command } from 'commander'
import { registerList } from './list.ts'
import { registerRedrive } from './redrive.ts'

/** `omni dlq …`: list and redrive dead letters. */
export function registerDlq(program: Command): void {
  const dlq = program.command('dlq').description('Inspect and redrive dead letters (events that failed after the maximum deliveries).')
  registerList(dlq)
  registerRedrive(dlq)
}
