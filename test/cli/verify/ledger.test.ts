// `omni verify ledger` end to end through the real CLI: bad options are refused before anything
// starts, and one small scenario prints its table line, writes the ledger and the JSON.
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { omni } from '../../fixtures/cli.ts'

t.setTimeout(90_000)

t.test('bad options name the flag and start nothing', async (t) => {
  for (const [args, message] of [
    [['--scenarios', '2,x'], /--scenarios must be numbers separated by commas, got "2,x"/],
    [['--scenarios', '16'], /--scenarios: no scenario 16; they are numbered 1 to 15/],
    [['--duplicate-window', '10ms'], /--duplicate-window must be a duration of at least 1s/],
    [['--events', '3'], /--events must be at least 10/],
  ] as const) {
    const r = await omni(['verify', 'ledger', ...args])
    t.equal(r.code, 1, args.join(' '))
    t.match(r.stderr, /OMNI_ERR_CONFIG/)
    t.match(r.stderr, message)
  }
})

t.test('one scenario: the table line, the ledger file and the JSON', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'omni-cli-ledger-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const ledger = join(dir, 'ledger.jsonl')
  const json = join(dir, 'ledger.json')
  const r = await omni(['verify', 'ledger', '--scenarios', '6', '--events', '60', '--ledger', ledger, '--json', json], { timeoutMs: 80_000 })
  t.equal(r.code, 0, r.stderr)
  t.match(r.stdout, /\| # \| scenario \| sent \| acked \| stored \| rows \(FINAL\/OPTIMIZE\) \| outputs expected \| outputs found \| duplicated \| lost \| dead-lettered \(intact\) \| notes \|/)
  t.match(r.stdout, /\| 6 \| poison events that fail every delivery \| 60 \| 60 \| 60 \| 117\/117 \| 57 \| 57 \| 0 \| 0 \| 3 \(3\) \|/)
  const lines = (await readFile(ledger, 'utf8')).trim().split('\n')
  t.equal(lines.length, 60, 'one ledger line per acknowledged event')
  const report = JSON.parse(await readFile(json, 'utf8')) as { ledger: string; scenarios: { id: number; counts: { lost: number; duplicated: number } }[] }
  t.match(report, { ledger, scenarios: [{ id: 6, counts: { lost: 0, duplicated: 0 } }] })
})
