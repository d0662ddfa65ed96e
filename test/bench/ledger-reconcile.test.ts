// The ledger's reconciliation must see a loss and a duplicate when there is one: otherwise a
// scenario reporting zeros proves nothing. A clean run, then one fabricated acknowledgement of
// an event never sent and one extra copy of an output, each of which must be counted.
import t from 'tap'
import { openContext } from '../../bench/ledger/context.ts'
import { Ledger } from '../../bench/ledger/ledger.ts'
import { OUTPUT, reconcile } from '../../bench/ledger/reconcile.ts'

t.setTimeout(90_000)

t.test('a missing acknowledged event and a doubled output are counted, a clean run is all zeros', async (t) => {
  const ledger = new Ledger(undefined)
  const ctx = await openContext(0, 20, undefined, ledger)
  t.teardown(() => ctx.close())
  await ctx.platform().ready
  await ctx.flow(0, 20)
  t.ok(await ctx.settle(), 'the platform settled every event')
  await ctx.stopPlatforms()
  const check = () => reconcile({ run: ctx.run, sent: ctx.sent(), ledger: ledger.of(ctx.run), js: ctx.js, jsm: ctx.jsm, data: ctx.data })

  const clean = await check()
  t.match(clean, { sent: 20, acked: 20, stored: 20, rowsFinal: 40, rowsOptimized: 40, outputsExpected: 20, outputsFound: 20, lost: 0, duplicated: 0 }, 'the clean run')
  t.same(clean.detail, {})

  ledger.record({ scenario: 0, run: ctx.run, n: 999, seq: 0, duplicate: false, via: 'puback', sha256: '', poison: false })
  await ctx.js.publish(OUTPUT, JSON.stringify({ data: { run: ctx.run, n: 3 } }), { msgID: 'ledger-self-test-copy' })
  const broken = await check()
  t.same(broken.detail, { 'lost.input': 1, 'lost.output': 1, 'duplicated.output': 1 }, 'each fault is counted where it is')
  t.match(broken, { acked: 21, lost: 2, duplicated: 1 })
})
