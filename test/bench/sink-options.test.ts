import t from 'tap'
import { LAYOUTS } from '../../bench/sink-options/layouts.ts'
import { formatSinkOptions } from '../../bench/sink-options/report.ts'
import { runSinkOptions } from '../../bench/sink-options/run.ts'

// The sink-options experiment at a tiny size, on the real embedded engine: every layout holds
// exactly the rows it was given (also after a batch is inserted twice), and every query of the
// API gives the same answer on every layout and through the product's own function. No timing
// is checked.
t.test('every layout stores every row once and answers every query alike', async (t) => {
  const report = await runSinkOptions({ rows: 1200, sweepRows: 300, batches: [100, 300], loadBatch: 250, repeat: 1 })
  t.same(report.problems, [], 'no check failed')
  t.same(report.loads.map((l) => l.layout), LAYOUTS.map((l) => l.id), 'every layout was loaded')
  for (const l of report.loads) {
    const perEvent = l.layout.endsWith('-runs') ? { events: 2, outcomes: 1 } : { events: 2, outcomes: 3 }
    t.equal(l.counts.events.expected, 1200 * perEvent.events, `${l.layout}: ${perEvent.events} event rows per event`)
    t.equal(l.counts.outcomes.expected, 1200 * perEvent.outcomes, `${l.layout}: ${perEvent.outcomes} outcome rows per event`)
    for (const c of [l.counts.events, l.counts.outcomes]) {
      t.equal(c.stored, c.expected, `${l.layout}: every row inserted`)
      t.equal(c.final, c.expected, `${l.layout}: none collapsed`)
      t.equal(c.finalAfterReplay, c.expected, `${l.layout}: a replayed batch collapses`)
    }
    t.ok(l.eventsPerSecond > 0, `${l.layout}: a rate was measured`)
  }
  const ids = report.queries.map((q) => q.id)
  for (const id of ['page.newest', 'page.next', 'filter.actor', 'filter.tenant+time', 'text.rare', 'text.absent', 'label.value', 'label.key', 'event.get', 'observed']) t.ok(ids.includes(id), `query ${id} ran`)
  for (const q of report.queries) {
    t.ok(q.agree, `${q.id}: every layout gave the same answer`)
    if (q.productAgrees !== undefined) t.ok(q.productAgrees, `${q.id}: the product's own query agrees`)
  }
  // answers that find something, so "agree" is not five empty answers
  const answer = (id: string) => report.queries.find((q) => q.id === id)?.byLayout['current']?.answer ?? ''
  t.match(answer('page.newest'), /^50 events, more$/)
  t.match(answer('text.rare'), /^[1-9]\d* events/, 'the rare word is found')
  t.match(answer('text.absent'), /^0 events$/)
  t.match(answer('label.value'), /^[1-9]\d* events/, 'a label value is found')
  t.match(answer('event.get'), /^1 events, 3 outcomes$/)
  t.equal(report.sweeps.length, 4 * LAYOUTS.length, 'two batch sizes, one more format and a connection per table, for every layout')
  t.equal(report.sweeps.filter((s) => s.parallel).length, LAYOUTS.length, 'one sweep inserts into both tables at once')
  t.ok(report.sweeps.every((s) => s.correct), 'every sweep load stored its rows once')
  const [probe] = report.probes
  t.equal(probe?.format, 'RowBinary')
  t.equal(probe?.usable, false, `RowBinary does not survive the embedded client path: ${probe?.exec}`)
  t.match(formatSinkOptions(report), /Loads[\s\S]*Queries[\s\S]*Sweeps[\s\S]*RowBinary/, 'the tables print')
})
