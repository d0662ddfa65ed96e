import t from 'tap'
import { startTestApi } from '../fixtures/api.ts'
import { eventually, readSubject } from '../fixtures/fabric.ts'
import { EVOLUTION_FILES, postEvolution, postLookalike } from '../fixtures/lookalike.ts'

// Issue 12 review (seam: webhook id namespace × pipeline outputs). A webhook's events have
// ingest ids of their own namespace, so a client posting the key of a provider's next message
// no longer drops the delivery at ingest. The pipeline's outputs of the two events must stay
// apart too: were they keyed by tenant and key alone, the client's event would take the output
// id first and the real message's output would be dropped as its duplicate.

t.setTimeout(120_000)

const EVOLUTION_KEY = 'evo-apikey-review-0123456789abcdef'
process.env['OMNI_TEST_EVOLUTION_KEY'] = EVOLUTION_KEY

const RECEIVED = 'omni.evt.ingest.message-received.v1'
const RELAYED = 'omni.evt.test.relayed.v1'

const RELAY_PIPELINE = `kind: Pipeline
name: relay
sources: [${RECEIVED}]
errorPolicy: { maxDeliveries: 2, backoff: [20ms] }
stages:
  - { id: record, uses: test.record }
outputs:
  - subject: ${RELAYED}
`

t.test("a client's event with a webhook message's key does not take that message's pipeline output", async (t) => {
  const api = await startTestApi(t, { pipeline: RELAY_PIPELINE, fabric: { files: EVOLUTION_FILES } })
  const webhook = (id: string) => postEvolution(api, id, EVOLUTION_KEY)
  const acked = () => api.settled.filter((e) => e.type === 'acked' && e.pipeline === 'relay').length

  // the attacker sees how keys are derived from one delivery...
  const seen = await webhook('3EBSEEN')
  t.equal(seen.statusCode, 202, seen.body)
  const seenKey: string = seen.json().events[0].idempotencykey
  // ...and posts the key the next message will get, in the same tenant, with the ingest scope
  const forged = await postLookalike(api, { id: 'forged-1', key: seenKey.replace('3EBSEEN', '3EBNEXT'), providerMessageId: '3EBNEXT' })
  t.equal(forged.statusCode, 202, forged.body)
  t.ok(await eventually(() => acked() === 2), 'the pipeline relayed the seen message and the forged event')

  const real = await webhook('3EBNEXT')
  t.equal(real.statusCode, 202, real.body)
  t.equal(real.json().events[0].duplicate, false, 'the real delivery is stored at ingest')
  t.ok(await eventually(() => acked() === 3), 'the pipeline ran the real message')

  const texts = (await readSubject(api.fabric, RELAYED)).map((e) => (e['data'] as { text: string }).text)
  t.ok(texts.includes('hello 3EBNEXT'), `the real message has its own output (relayed: ${JSON.stringify(texts)})`)
  t.equal(texts.length, 3, 'one output for each of the three events')
})
