// A small version of every ledger scenario (issue 12 §7): real nats-server, platform processes
// and embedded ClickHouse; each must lose nothing and duplicate nothing. Scenario 4 depends on
// exactly-once outputs across a ClickHouse outage (§2), 10 on a revoke stopping the plugin (§3)
// and 12 on refusing publishes when the stream is full (§4); on code without those fixes they
// fail here, which is the point.
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { formatLedgerTable } from '../../bench/ledger/report.ts'
import { MESH_UNSUPPORTED, runLedger, selectScenarios } from '../../bench/ledger/run.ts'
import { SCENARIOS } from '../../bench/ledger/scenarios.ts'

// about 5–15 s per scenario on an idle 2-core machine (the mesh ones 15–20 s, the cluster one about 15 s), about 155 s in
// all; a busy machine slows the mesh's catch-up after a hub crash most (up to 2 min allowed)
t.setTimeout(600_000)

const EVENTS = 100
/** the mesh scenarios (13, 14) send over about 9 s with a 3 s fault in the middle */
const MESH_EVENTS = 300
/** the duplicate window of scenarios 4 and 5: ClickHouse is down three windows in 4 */
const WINDOW_MS = 1000
/** far above what the platform needs for this load: a leak under backpressure would pass it */
const RSS_BOUND_MB = 1024
const dir = await mkdtemp(join(tmpdir(), 'omni-ledger-test-'))
t.teardown(() => rm(dir, { recursive: true, force: true }))
const ledgerFile = join(dir, 'ledger.jsonl')

t.test('unknown scenario numbers are refused before anything starts', async (t) => {
  t.throws(() => selectScenarios([2, 99]), { code: 'OMNI_ERR_CONFIG', message: /no scenario 99/ })
})

for (const s of SCENARIOS) {
  t.test(`scenario ${s.id}: ${s.title}: nothing lost, nothing duplicated`, async (t) => {
    const [line] = await runLedger({ scenarios: [s.id], events: s.mesh ? MESH_EVENTS : EVENTS, duplicateWindowMs: WINDOW_MS, ledgerFile })
    t.comment(formatLedgerTable(line ? [line] : []).trimEnd())
    // the mesh's data path (issue 13, part B) may not be in this build yet: say so, do not pass
    if (s.mesh && line?.error?.startsWith(MESH_UNSUPPORTED)) return void t.pass('mesh scenario not run', { skip: line.error })
    t.equal(line?.error, undefined, 'the scenario ran')
    const c = line?.counts
    if (!c) return
    t.ok(line.settled, 'every event was settled')
    t.ok(c.acked > 0, `${c.acked} of ${c.sent} sends were acknowledged`)
    t.ok(c.ackedHttp > 0 && c.ackedHttp < c.acked, `${c.ackedHttp} of them by a 2xx of the HTTP API, the rest by a PubAck`)
    t.equal(c.stored, c.acked, 'every acknowledged event is in the events stream')
    t.equal(c.lost, 0, 'no acknowledged event or expected output is missing')
    t.equal(c.duplicated, 0, 'no copy beyond the first')
    t.equal(c.outputsFound, c.outputsExpected, 'every expected output was found')
    t.equal(c.deadLetteredIntact, c.deadLettered, 'every dead letter holds the bytes that were sent')
    if (s.id === 2 || s.id === 3) t.match(line.notes.join('; '), /platform exited by SIGKILL/, 'the fault fired')
    if (s.id === 9) t.match(line.notes.join('; '), /platform exited by 0/, 'SIGTERM during the reload ended the platform cleanly')
    if (s.id === 6 || s.id === 7) t.ok(c.deadLettered > 0, 'the poison events were dead-lettered')
    if (s.id === 7) t.ok((c.outcomes['alpha:failed'] ?? 0) > 0, `the alpha plugin crashed: ${JSON.stringify(c.outcomes)}`)
    // §3: a revoked plugin must not run on events sent after its revoke took effect
    if (s.id === 10) {
      t.ok((c.outcomesAfterMark['alpha:failed'] ?? 0) > 0, `the alpha stage's outcomes after the revoke were measured: ${JSON.stringify(c.outcomesAfterMark)}`)
      t.equal(c.outcomesAfterMark['alpha:ok'] ?? 0, 0, `the revoked alpha plugin ran on no later event: ${JSON.stringify(c.outcomesAfterMark)}`)
    }
    if (s.id === 8) t.ok((line.measured?.['peakRssMb'] ?? Infinity) < RSS_BOUND_MB, `the platform's memory stayed bounded: ${line.measured?.['peakRssMb']} MB`)
    if (s.id === 12) t.ok(c.sent > c.acked, 'a full stream refused publishes')
    if (s.mesh) {
      t.equal(c.detail['lost.received'], undefined, 'every acknowledged event was admitted on a2')
      t.equal(c.detail['duplicated.received'], undefined, 'and admitted once')
      t.equal(c.detail['origin.wrong'], undefined, 'every admitted copy names a1 as its origin')
      t.equal(c.detail['origin.wrongRow'], undefined, 'and so does every row ClickHouse keeps of them (mesh:a1)')
      t.ok((line.measured?.['relinkMs'] ?? 0) > 0, `the links came back after the fault: ${line.notes.join('; ')}`)
    }
    // the ledger file holds one line per acknowledgement of this run
    const lines = (await readFile(ledgerFile, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { scenario: number; n: number })
    t.equal(new Set(lines.filter((l) => l.scenario === s.id).map((l) => l.n)).size, c.acked, 'the ledger file lists every acknowledged event')
  })
}
