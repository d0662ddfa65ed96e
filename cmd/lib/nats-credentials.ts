import { existsSync } from 'node:fs'
import { resolve } from 'node:path'
import { natsUrls } from '../../src/jetstream/connect.ts'
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

/**
 * The credentials a command connects to `url` with. A file named by the flag or the variable is
 * always used; the default file (the local platform's password) only for a server on this
 * machine, so `--nats` pointed elsewhere never hands it to another host.
 */
export async function cliNatsCredentials(url: string, value?: string, env: NodeJS.ProcessEnv = process.env): Promise<NatsCredentials | undefined> {
  const r = resolveOption({ ...NATS_CREDENTIALS, value }, env)
  if (r.source === 'default' && (!natsUrls(url).every(isLoopback) || !existsSync(r.value))) return undefined
  return readNatsCredentials(resolve(r.value))
}

/** True for a URL whose host is this machine (127.0.0.0/8, ::1, localhost). */
function isLoopback(url: string): boolean {
  let host: string
  try {
    host = new URL(url).hostname.replace(/^\[|\]$/g, '')
  } catch {
    return false
  }
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host)
}
