import type { Command } from 'commander'
import { openClickHouse, type ClickHouse } from '../../src/clickhouse/client.ts'
import { clickHouseSettingsFromEnv, resolveClickHouseConfig, type ClickHouseConfig } from '../../src/clickhouse/config.ts'

export interface ClickHouseCliOptions {
  clickhouseUrl?: string
  clickhouseUser?: string
  clickhouseDatabase?: string
  retentionEvents?: string
  retentionRaw?: string
  data?: string
}

/** The options every command that reaches ClickHouse shares; flags win over OMNI_* variables. */
export function withClickHouseOptions(cmd: Command, opts: { retention?: boolean; data?: boolean } = {}): Command {
  cmd
    .option('--clickhouse-url <url>', 'a ClickHouse server (http[s]://host:8123); default $OMNI_CLICKHOUSE_URL, else the embedded engine in <data>/clickhouse')
    .option('--clickhouse-user <name>', 'ClickHouse user (default $OMNI_CLICKHOUSE_USER or "default"); the password only from $OMNI_CLICKHOUSE_PASSWORD')
    .option('--clickhouse-database <name>', 'database for the omni_* tables (default $OMNI_CLICKHOUSE_DATABASE or "omni")')
  if (opts.data !== false) cmd.option('--data <dir>', 'data folder (the embedded engine lives in <data>/clickhouse)', 'data')
  if (opts.retention) {
    cmd
      .option('--retention-events <days>', 'days events and stage outcomes are kept (default $OMNI_RETENTION_EVENTS_DAYS or 90)')
      .option('--retention-raw <days>', 'days raw provider payloads are kept (default $OMNI_RETENTION_RAW_DAYS or 30)')
  }
  return cmd
}

export function clickHouseConfigFrom(opts: ClickHouseCliOptions): ClickHouseConfig {
  return resolveClickHouseConfig(
    {
      url: opts.clickhouseUrl,
      username: opts.clickhouseUser,
      database: opts.clickhouseDatabase,
      eventsRetentionDays: opts.retentionEvents,
      rawRetentionDays: opts.retentionRaw,
      dataDir: opts.data,
    },
    clickHouseSettingsFromEnv(),
  )
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
