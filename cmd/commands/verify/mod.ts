import type { Command } from 'commander'
import { registerLedger } from './ledger.ts'

/** `omni verify …`: fault-injection checks that run real processes. */
export function registerVerify(program: Command): void {
  const verify = program.command('verify').description('Check the delivery guarantees with real processes and injected faults.')
  registerLedger(verify)
}
