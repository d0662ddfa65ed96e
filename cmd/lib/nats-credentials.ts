import { existsSync } from 'node:fs'
import { resolve } from 'node:path'
import { readNatsCredentials, type NatsCredentials } from '../../src/server/mod.ts'
import { resolveOption, type EnvOption } from './options.ts'

/**
 * The credentials file of the platform's NATS server: a flag any command takes, else the
 * variable, else the file `omni up` writes into the default data folder, when it is there.
 */
export const NATS_CREDENTIALS: EnvOption<string> = {
  flags: '--nats-credentials <file>',
  env: 'OMNI_NATS_CREDENTIALS',
  fallback: 'data/nats-credentials',
  fallbackHelp: './data/nats-credentials when it exists (omni up writes it)',
}

/** The credentials a command connects with; none when no file is named and the default is absent. */
export async function cliNatsCredentials(value?: string, env: NodeJS.ProcessEnv = process.env): Promise<NatsCredentials | undefined> {
  const r = resolveOption({ ...NATS_CREDENTIALS, value }, env)
  if (r.source === 'default' && !existsSync(r.value)) return undefined
  return readNatsCredentials(resolve(r.value))
}
