import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { jetstreamManager } from '@nats-io/jetstream'
import { EVENTS_STREAM, ensureStreams } from '../../src/jetstream/topology.ts'
import { storedOn } from '../fixtures/fabric.ts'
import { omni } from '../fixtures/cli.ts'
import { TEST_CATALOG, writeManifests } from '../fixtures/manifests.ts'
import { connectTest, startTestNats } from '../fixtures/nats.ts'

const SUBJECT = 'omni.evt.test.note-created.v1'

t.test('publish validates against the catalog and stores a repeat once', async (t) => {
  const server = await startTestNats(t)
  const dir = await writeManifests(t, { 'catalog.yaml': TEST_CATALOG })
  const args = ['--nats', server.url, '--manifests', dir]

  const ok = await omni(['publish', 'note.created', '{"noteId":"a1","text":"hi"}', ...args])
  t.equal(ok.code, 0, ok.stderr)
  t.match(ok.stdout, /^stored: note\.created → omni\.evt\.test\.note-created\.v1 seq 1 key note\.created\.v1:a1/)
  const dup = await omni(['publish', 'note.created', '{"noteId":"a1","text":"again"}', ...args])
  t.match(dup.stdout, /^duplicate: already stored, not processed again: .* seq 1 /)

  const bad = await omni(['publish', 'note.created', '{"text":5,"extra":{}}', ...args])
  t.equal(bad.code, 1)
  t.match(bad.stderr, /OMNI_ERR_EVENT_INVALID: invalid note\.created event/)
  t.match(bad.stderr, /\$\.data\.noteId: is required to derive the idempotency key/)
  t.match(bad.stderr, /\$\.data\.text: must be string/)

  const unknown = await omni(['publish', 'note.deleted', '{}', ...args])
  t.match(unknown.stderr, /OMNI_ERR_UNKNOWN_EVENT_TYPE: event type "note\.deleted" is not in the catalog \(known: note\.created\)/)

  const notJson = await omni(['publish', 'note.created', '{oops', ...args])
  t.match(notJson.stderr, /OMNI_ERR_EVENT_INVALID: data is not valid JSON/)

  // too large for a command line, so it comes through stdin as one JSON line
  const line = JSON.stringify({ type: 'note.created', data: { noteId: 'big', text: 'x'.repeat(1_100_000) } })
  const huge = await omni(['publish', '--file', '-', ...args], { input: `${line}\n` })
  t.equal(huge.code, 1)
  t.match(huge.stderr, /OMNI_ERR_EVENT_TOO_LARGE: -:1: the note\.created event is \d+ bytes; the limit is 1040384/)

  const nc = await connectTest(t, server)
  t.equal(await storedOn(await jetstreamManager(nc), SUBJECT), 1, 'only the one valid event is stored')
})

t.test('a JSON-lines file: a bad line is named and the lines before it stay published', async (t) => {
  const server = await startTestNats(t)
  const dir = await writeManifests(t, { 'catalog.yaml': TEST_CATALOG })
  const file = join(dir, 'events.jsonl')
  await writeFile(file, ['{"type":"note.created","data":{"noteId":"l1"}}', '{"type":"note.created","data":{"noteId":"l2"}}', '', '{"type":"note.created","data":{}}', '{"type":"note.created","data":{"noteId":"l5"}}'].join('\n'))
  const r = await omni(['publish', '--file', file, '--nats', server.url, '--manifests', dir])
  t.equal(r.code, 1)
  t.match(r.stderr, /events\.jsonl:4: invalid note\.created event \(2 earlier event\(s\) were published\)/)
  const nc = await connectTest(t, server)
  t.equal(await storedOn(await jetstreamManager(nc), SUBJECT), 2)
})

t.test('an unreachable server names the fix', async (t) => {
  const dir = await writeManifests(t, { 'catalog.yaml': TEST_CATALOG })
  const r = await omni(['publish', 'note.created', '{"noteId":"x"}', '--nats', 'nats://127.0.0.1:1', '--manifests', dir])
  t.equal(r.code, 1)
  t.match(r.stderr, /OMNI_ERR_NATS_UNAVAILABLE: .*127\.0\.0\.1:1/)
  t.match(r.stderr, /omni up/)
})

t.test('a CLI command leaves the running stream configuration alone', async (t) => {
  const server = await startTestNats(t)
  const dir = await writeManifests(t, { 'catalog.yaml': TEST_CATALOG })
  const jsm = await jetstreamManager(await connectTest(t, server))
  await ensureStreams(jsm, { duplicateWindowMs: 1000 })
  const r = await omni(['publish', 'note.created', '{"noteId":"w1"}', '--nats', server.url, '--manifests', dir])
  t.equal(r.code, 0, r.stderr)
  t.equal((await jsm.streams.info(EVENTS_STREAM)).config.duplicate_window, 1000 * 1_000_000, 'the platform\'s duplicate window is kept')
})

