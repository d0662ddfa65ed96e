// A small version of every ledger scenario (issue 12 §7): real nats-server, platform processes
// and embedded ClickHouse; each must lose nothing and duplicate nothing. Scenario 4 depends on
// exactly-once outputs across a ClickHouse outage (§2) and 12 on refusing publishes when the
// stream is full (§4); on code without those fixes they fail here, which is the point.
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { formatLedgerTable } from '../../bench/ledger/report.ts'
import { runLedger, selectScenarios } from '../../bench/ledger/run.ts'
import { SCENARIOS } from '../../bench/ledger/scenarios.ts'

// about 6–12 s per scenario on an idle 2-core machine
t.setTimeout(170_000)

const EVENTS = 150
const dir = await mkdtemp(join(tmpdir(), 'omni-ledger-test-'))
t.teardown(() => rm(dir, { recursive: true, force: true }))
const ledgerFile = join(dir, 'ledger.jsonl')

t.test('unknown scenario numbers are refused before anything starts', async (t) => {
  t.throws(() => selectScenarios([2, 13]), { code: 'OMNI_ERR_CONFIG', message: /no scenario 13/ })
})

for (const s of SCENARIOS) {
  if (s.notBuilt) {
    t.test(`scenario ${s.id}: ${s.title}`, { todo: s.notBuilt }, async () => {})
    continue
  }
  t.test(`scenario ${s.id}: ${s.title}: nothing lost, nothing duplicated`, async (t) => {
    const [line] = await runLedger({ scenarios: [s.id], events: EVENTS, duplicateWindowMs: 2000, ledgerFile })
    t.comment(formatLedgerTable(line ? [line] : []).trimEnd())
    t.equal(line?.error, undefined, 'the scenario ran')
    const c = line?.counts
    if (!c) return
    t.ok(line.settled, 'every event was settled')
    t.ok(c.acked > 0, `${c.acked} of ${c.sent} sends were acknowledged`)
    t.equal(c.lost, 0, 'no acknowledged event or expected output is missing')
    t.equal(c.duplicated, 0, 'no copy beyond the first')
    t.equal(c.outputsFound, c.outputsExpected, 'every expected output was found')
    t.equal(c.deadLetteredIntact, c.deadLettered, 'every dead letter holds the bytes that were sent')
    if (s.id === 6) t.ok(c.deadLettered > 0, 'the poison events were dead-lettered')
    if (s.id === 12) t.ok(c.sent > c.acked, 'a full stream refused publishes')
    // the ledger file holds one line per acknowledgement of this run
    const lines = (await readFile(ledgerFile, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { scenario: number; n: number })
    t.equal(new Set(lines.filter((l) => l.scenario === s.id).map((l) => l.n)).size, c.acked, 'the ledger file lists every acknowledged event')
  })
}
