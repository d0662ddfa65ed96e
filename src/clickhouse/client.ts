import { mkdirSync } from 'node:fs'
import { createClient, type ClickHouseClient } from '@clickhouse/client'
import { omniError } from '../errors/mod.ts'
import { describeTarget, type ClickHouseConfig } from './config.ts'

/** An open ClickHouse, embedded or by URL, behind the one `@clickhouse/client` interface. */
export interface ClickHouse {
  readonly client: ClickHouseClient
  readonly config: ClickHouseConfig
  /** `omni.omni_events` and friends: table names are always qualified with the database */
  table(name: TableName): string
  /** for messages: where this points, without secrets */
  readonly description: string
  close(): Promise<void>
  closed(): Promise<void>
  [Symbol.asyncDispose](): Promise<void>
}

export const TABLES = ['omni_events', 'omni_stage_outcomes', 'omni_raw_payloads', 'omni_schema_migrations'] as const
export type TableName = (typeof TABLES)[number]

/** The embedded engine's module; the slim platform image leaves it out, which is said plainly. */
async function loadChdb(): Promise<typeof import('chdb/connection')> {
  try {
    return await import('chdb/connection')
  } catch (err) {
    if ((err as { code?: string }).code !== 'ERR_MODULE_NOT_FOUND') throw err
    throw omniError(
      'OMNI_ERR_CLICKHOUSE_UNAVAILABLE',
      'the embedded ClickHouse engine (the chdb package) is not installed here, as in the slim platform image: use a ClickHouse server (--clickhouse-url or $OMNI_CLICKHOUSE_URL), run without ClickHouse (--no-clickhouse), or use the full image',
      { cause: err },
    )
  }
}

/** Generous for a batch insert, short enough that an outage is noticed and retried. */
const REQUEST_TIMEOUT_MS = 30_000
/** Room for a long statement's progress headers (one every 10 s, see migrations.ts): hours of them, not Node's 16 KiB. */
const MAX_RESPONSE_HEADERS_BYTES = 1024 * 1024

/**
 * Opens ClickHouse. Embedded: the `chdb` engine in this process, bound to one data folder that
 * only one process may hold (a second gets OMNI_ERR_CLICKHOUSE_LOCKED). Server: HTTP by URL.
 * Either way the rest of the code sees the same `ClickHouseClient`.
 */
export async function openClickHouse(config: ClickHouseConfig): Promise<ClickHouse> {
  const target = config.target
  const description = describeTarget(target)
  let client: ClickHouseClient
  if (target.type === 'embedded') {
    // loaded only here: the engine adds about 200 MB to a process, which one with ClickHouse
    // off or on a server never needs
    const { createChdbConnection } = await loadChdb()
    mkdirSync(target.path, { recursive: true })
    let connection: ReturnType<typeof createChdbConnection>
    try {
      connection = createChdbConnection({ path: target.path })
    } catch (err) {
      throw omniError(
        'OMNI_ERR_CLICKHOUSE_LOCKED',
        `cannot open the ${description}: another process holds it (a running \`omni up\`?). Stop that process, give this one another --data folder, or run a ClickHouse server and set OMNI_CLICKHOUSE_URL`,
        { cause: err },
      )
    }
    // chdb's Connection implements @clickhouse/client-common's interface; the option is marked
    // experimental upstream and not yet in the public options type
    client = createClient({ connection } as Parameters<typeof createClient>[0])
  } else {
    client = createClient({ url: target.url, username: target.username, password: target.password, request_timeout: REQUEST_TIMEOUT_MS, application: 'omni-fabric', max_response_headers_size: MAX_RESPONSE_HEADERS_BYTES })
  }
  const done = Promise.withResolvers<void>()
  let closing: Promise<void> | undefined
  const handle: ClickHouse = {
    client,
    config,
    description,
    table: (name) => `${config.database}.${name}`,
    close() {
      closing ??= client.close().catch(() => undefined).finally(() => done.resolve())
      return closing
    },
    closed: () => done.promise,
    [Symbol.asyncDispose]: () => handle.close(),
  }
  const ping = await client.ping().catch((err: unknown) => ({ success: false as const, error: err }))
  if (!ping.success) {
    await handle.close()
    const error = ping.error instanceof Error ? ping.error : new Error(String(ping.error))
    throw omniError('OMNI_ERR_CLICKHOUSE_UNAVAILABLE', `cannot reach the ${description}: ${error.message}`, { cause: error })
  }
  return handle
}
