// The questions asked of every layout: each query the API serves (GET /v1/events with its
// filters and next page, GET /v1/events/:id, the observed catalog), with values picked from the
// generated events so that each one finds something (or, for one text search, nothing).
import type { ClickHouse } from '../../src/clickhouse/client.ts'
import type { EventFilter } from '../../src/clickhouse/query-schema.ts'
import { RARE_WORD, type EventRows } from './events.ts'
import type { Layout } from './layouts.ts'
import { getEventOn, observedOn, productGetEvent, productQueryEvents, queryEventsOn, type Answer } from './queries.ts'

export interface QuerySpec {
  readonly id: string
  readonly title: string
  run(layout: Layout, ch: ClickHouse): Promise<Answer>
  /** the product's own function for this question, on the layout it was written for */
  readonly product?: (ch: ClickHouse) => Promise<Answer>
}

function page(id: string, title: string, filter: EventFilter): QuerySpec {
  return { id, title, run: (layout, ch) => queryEventsOn(layout, ch, filter), product: (ch) => productQueryEvents(ch, filter) }
}

/**
 * The query set for `n` generated events. `current` answers the first page once, so the
 * next-page question carries a cursor the API itself handed out.
 */
export async function querySpecs(make: (i: number) => EventRows, n: number, current: ClickHouse): Promise<QuerySpec[]> {
  const middle = make(Math.floor(n / 3)).input
  const [day, clock] = middle.time.split(' ') as [string, string]
  const hour = Number(clock.slice(0, 2))
  const from = `${day}T${String(hour).padStart(2, '0')}:00:00Z`
  const to = `${day}T${String(hour).padStart(2, '0')}:30:00Z`
  const first = await productQueryEvents(current, { limit: 50 })
  const cursor = first.type === 'page' ? first.nextCursor : undefined
  return [
    page('page.newest', 'newest 50 events, no filter', { limit: 50 }),
    ...(cursor ? [page('page.next', 'the next 50 (keyset cursor)', { limit: 50, cursor })] : []),
    page('filter.instance+type', 'instance and type, 50', { instance: 'phone-2', type: 'message.received', limit: 50 }),
    page('filter.actor', 'one actor (bloom filter index), 50', { actor: middle.actor, limit: 50 }),
    page('filter.tenant+time', 'a tenant in a half-hour window, 100', { tenant: middle.tenant, from, to, limit: 100 }),
    page('text.rare', `text "${RARE_WORD.toLowerCase()}" (about 1 event in 200), 50`, { text: RARE_WORD.toLowerCase(), limit: 50 }),
    page('text.absent', 'text found nowhere (a full scan), 50', { text: 'no such words anywhere', limit: 50 }),
    page('text.common+tenant', 'common text in one tenant, 50', { text: 'weekly notes', tenant: 'globex', limit: 50 }),
    page('label.value', 'label class=voice (outcomes subquery), 50', { label: 'class=voice', limit: 50 }),
    page('label.key', 'label trust set at all (outcomes subquery), 50', { label: 'trust', limit: 50 }),
    { id: 'event.get', title: 'one event by id with its stage outcomes', run: (layout, ch) => getEventOn(layout, ch, middle.event_id), product: (ch) => productGetEvent(ch, middle.event_id) },
    { id: 'observed', title: 'observed catalog: count per instance and type', run: (_layout, ch) => observedOn(ch) },
  ]
}
