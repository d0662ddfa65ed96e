import type { Command } from 'commander'
import { compileEventFilter, type CompiledEventFilter } from '../../../src/clickhouse/event-filter.ts'
import { MAX_LIMIT, type EventRecord } from '../../../src/clickhouse/query-schema.ts'
import { isOmniError, omniError } from '../../../src/errors/mod.ts'
import { clickHouseConfigFrom, withClickHouseOptions, type ClickHouseCliOptions } from '../../lib/clickhouse-options.ts'
import { formatTable } from '../../lib/output.ts'
import { withQueryClient } from '../../lib/session.ts'

interface QueryOptions extends ClickHouseCliOptions {
  type?: string
  tenant?: string
  instance?: string
  actor?: string
  conversation?: string
  subject?: string
  originNode?: string
  from?: string
  to?: string
  text?: string
  label?: string
  limit?: string
  cursor?: string
  json?: boolean
}

const PREVIEW_CHARS = 60

/** `omni events query`. */
export function registerQuery(events: Command): void {
  withClickHouseOptions(
    events
      .command('query')
      .description('List recorded events, newest first, a page at a time. Every filter is optional; they combine with AND.')
      .option('--type <type>', 'only this event type (message.received)')
      .option('--tenant <tenant>', 'only this tenant')
      .option('--instance <instance>', 'only this instance')
      .option('--actor <actor>', 'only events by this actor')
      .option('--conversation <id>', 'only this conversation')
      .option('--subject <subject>', 'only events recorded on this subject')
      .option('--origin-node <node>', 'only events received from this mesh node')
      .option('--from <time>', 'events at or after this UTC time (2026-11-22T04:00:00Z, or a date)')
      .option('--to <time>', 'events before this UTC time')
      .option('--text <text>', 'payload contains this text (case-insensitive)')
      .option('--label <name[=value]>', 'a pipeline stage set this label (class=conversation, tags=urgent, trust=flag)')
      .option('--limit <n>', `events per page, 1 to ${MAX_LIMIT} (default 50)`)
      .option('--cursor <cursor>', 'continue after the previous page (the cursor it printed)')
      .option('--json', 'print { events, nextCursor } as JSON'),
  ).action(async (opts: QueryOptions) => {
    // checked before ClickHouse is opened: a typo costs nothing, and names the flag
    const filter = flagsToFilter(opts)
    await withQueryClient({ clickhouse: clickHouseConfigFrom(opts) }, async ({ events }) => {
      const page = await events.query(filter)
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(page, null, 2)}\n`)
        return
      }
      if (page.events.length === 0) process.stdout.write('no events\n')
      else process.stdout.write(formatTable([['TIME', 'TYPE', 'INSTANCE', 'ACTOR', 'SUBJECT', 'PAYLOAD'], ...page.events.map(eventLine)]))
      if (page.nextCursor) process.stdout.write(`\nmore: --cursor ${page.nextCursor}\n`)
    })
  })
}

function flagsToFilter(opts: QueryOptions): CompiledEventFilter {
  const keys = ['type', 'tenant', 'instance', 'actor', 'conversation', 'subject', 'originNode', 'from', 'to', 'text', 'label', 'cursor'] as const
  const filter: Record<string, unknown> = {}
  for (const k of keys) if (opts[k] !== undefined) filter[k] = opts[k]
  // a flag is text; a number only when it is plainly one, so "10x" is reported, not read as 10
  if (opts.limit !== undefined) filter['limit'] = /^\d+$/.test(opts.limit) ? Number(opts.limit) : opts.limit
  try {
    return compileEventFilter(filter)
  } catch (err) {
    if (!isOmniError(err)) throw err
    // a field is named by its flag: filter.originNode → --origin-node
    const problems = err.problems.map((p) => ({ ...p, where: p.where.replace(/^filter\./, '--').replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`) }))
    throw omniError(err.code, err.message, { problems, cause: err })
  }
}

function eventLine(e: EventRecord): string[] {
  // a stored text that is not JSON is shown as it is, marked, rather than as an empty {}
  const payload = e.unreadable?.payload !== undefined ? `(unreadable) ${e.unreadable.payload}` : JSON.stringify(e.payload)
  return [e.time, e.type, e.instance ?? '-', e.actor ?? '-', e.subject, payload.length > PREVIEW_CHARS ? `${payload.slice(0, PREVIEW_CHARS - 1)}…` : payload]
}

