import type { Command } from 'commander'
import { openClickHouse, type ClickHouse } from '../../src/clickhouse/client.ts'
import { DEFAULT_DATABASE, DEFAULT_EVENTS_RETENTION_DAYS, DEFAULT_RAW_RETENTION_DAYS, resolveClickHouseConfig, type ClickHouseConfig } from '../../src/clickhouse/config.ts'
import { isOmniError, omniError } from '../../src/errors/mod.ts'
import { addEnvOption, optionReader, type EnvOption } from './options.ts'

export interface ClickHouseCliOptions {
  clickhouseUrl?: string
  clickhouseUser?: string
  clickhouseDatabase?: string
  retentionEvents?: string
  retentionRaw?: string
  data?: string
}

const URL_OPTION: EnvOption<string | undefined> = { flags: '--clickhouse-url <url>', env: 'OMNI_CLICKHOUSE_URL', fallback: undefined, fallbackHelp: 'the embedded engine in <data>/clickhouse' }
const USER: EnvOption<string> = { flags: '--clickhouse-user <name>', env: 'OMNI_CLICKHOUSE_USER', fallback: 'default' }
// never a flag: a flag shows in the process list and the shell's history
const PASSWORD: EnvOption<string> = { env: 'OMNI_CLICKHOUSE_PASSWORD', fallback: '' }
const DATABASE: EnvOption<string> = { flags: '--clickhouse-database <name>', env: 'OMNI_CLICKHOUSE_DATABASE', fallback: DEFAULT_DATABASE }
const EVENTS_DAYS: EnvOption<string | number> = { flags: '--retention-events <days>', env: 'OMNI_RETENTION_EVENTS_DAYS', fallback: DEFAULT_EVENTS_RETENTION_DAYS }
const RAW_DAYS: EnvOption<string | number> = { flags: '--retention-raw <days>', env: 'OMNI_RETENTION_RAW_DAYS', fallback: DEFAULT_RAW_RETENTION_DAYS }

/** The options every command that reaches ClickHouse shares; flags win over OMNI_* variables. */
export function withClickHouseOptions(cmd: Command, opts: { retention?: boolean; data?: boolean } = {}): Command {
  addEnvOption(cmd, URL_OPTION, 'a ClickHouse server (http[s]://host:8123)')
  addEnvOption(cmd, USER, 'ClickHouse user, whose password comes only from $OMNI_CLICKHOUSE_PASSWORD')
  addEnvOption(cmd, DATABASE, 'database for the omni_* tables')
  if (opts.data !== false) cmd.option('--data <dir>', 'data folder (the embedded engine lives in <data>/clickhouse)', 'data')
  if (opts.retention) {
    addEnvOption(cmd, EVENTS_DAYS, 'days events and stage outcomes are kept')
    addEnvOption(cmd, RAW_DAYS, 'days raw provider payloads are kept')
  }
  return cmd
}

/** The ClickHouse configuration; an invalid value is reported with the flag or `$VAR` that set it. */
export function clickHouseConfigFrom(opts: ClickHouseCliOptions, env: NodeJS.ProcessEnv = process.env): ClickHouseConfig {
  const reader = optionReader(env)
  const read = {
    url: reader.read({ ...URL_OPTION, value: opts.clickhouseUrl }),
    username: reader.read({ ...USER, value: opts.clickhouseUser }),
    password: reader.read({ ...PASSWORD, value: undefined }),
    database: reader.read({ ...DATABASE, value: opts.clickhouseDatabase }),
    eventsRetentionDays: reader.read({ ...EVENTS_DAYS, value: opts.retentionEvents }),
    rawRetentionDays: reader.read({ ...RAW_DAYS, value: opts.retentionRaw }),
  }
  reader.done('ClickHouse options')
  try {
    return resolveClickHouseConfig({
      url: read.url.value,
      username: read.username.value,
      password: read.password.value,
      database: read.database.value,
      eventsRetentionDays: read.eventsRetentionDays.value,
      rawRetentionDays: read.rawRetentionDays.value,
      dataDir: opts.data,
    })
  } catch (err) {
    if (!isOmniError(err)) throw err
    // the config names its keys (clickhouse.database); the user set a flag or a variable
    const where = (w: string) => read[w.replace(/^clickhouse\./, '') as keyof typeof read]?.where ?? w
    throw omniError(err.code, err.message, { problems: err.problems.map((p) => ({ ...p, where: where(p.where) })), cause: err })
  }
}

/** Opens ClickHouse for one command and closes it after `fn`, whatever happens. */
export async function withClickHouse<T>(opts: ClickHouseCliOptions, fn: (ch: ClickHouse) => Promise<T>): Promise<T> {
  const ch = await openClickHouse(clickHouseConfigFrom(opts))
  try {
    return await fn(ch)
  } finally {
    await ch.close()
  }
}
