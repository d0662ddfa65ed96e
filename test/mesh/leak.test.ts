import { readFile } from 'node:fs/promises'
import { setTimeout as delay } from 'node:timers/promises'
import t, { type Test } from 'tap'
import { jetstreamManager } from '@nats-io/jetstream'
import { headers as natsHeaders, type NatsConnection } from '@nats-io/transport-node'
import { EVENTS_STREAM } from '../../src/jetstream/topology.ts'
import { meshServerTopology } from '../../src/mesh/permissions.ts'
import type { ServerTopology } from '../../src/server/mod.ts'
import { meshApiPrefix, meshDeliverSubject, meshOutboxStream, meshOutboxSubject, meshOutboxSubjects } from '../../src/wire/mod.ts'
import { eventually, meshCredentials, meshTopology, type TopologyNode } from '../fixtures/mesh.ts'
import { askForEverything, links, markersStored, newMarkers, platform, seedA1, serve, watchEverything, type Marker, type Markers } from '../fixtures/mesh-leak.ts'

// Leak tests at the NATS level: real nats-servers of the issue's topology (hub-a with leaves a1
// and a2; hub-b of cluster b, a leaf of hub-a for public events, with leaf b1). a1 holds one
// marker per visibility; every other node asks for everything of a1 and watches `>` with the
// platform user, the widest a node's own process has. The hubs' permissions decide what arrives.

const OTHERS = ['hub-a', 'a2', 'hub-b', 'b1'] as const
type Other = (typeof OTHERS)[number]

/** Where each marker may be seen, by the visibility semantics. */
const ALLOWED: Record<Marker, readonly Other[]> = { local: [], cluster: ['hub-a', 'a2'], public: ['hub-a', 'a2', 'hub-b', 'b1'], forged: [] }

/** Waits until the markers that may arrive did, then a while longer for any that may not. */
async function settle(seen: Record<Other, Set<Marker>>): Promise<void> {
  await eventually('every allowed marker to arrive', () => (Object.entries(ALLOWED) as [Marker, readonly Other[]][]).every(([m, nodes]) => nodes.every((n) => seen[n].has(m))), 20_000)
  await delay(2_000)
}

function expectVisibility(t: Test, seen: Record<Other, Set<Marker>>, stored: Record<Other, Set<Marker>>): void {
  for (const marker of ['local', 'cluster', 'public', 'forged'] as const) {
    t.same(OTHERS.filter((n) => seen[n].has(marker)), ALLOWED[marker], `${marker}: seen (on \`>\`) on ${ALLOWED[marker].join(', ') || 'no other node'} only`)
    t.same(OTHERS.filter((n) => stored[n].has(marker)), ALLOWED[marker], `${marker}: stored in an inbox on ${ALLOWED[marker].join(', ') || 'no other node'} only`)
  }
}

async function watchAll(conns: Record<Other, NatsConnection>, markers: Markers) {
  const seen = Object.fromEntries(OTHERS.map((n) => [n, watchEverything(conns[n], markers)])) as Record<Other, Set<Marker>>
  // let each subscription's interest cross the links before anything is asked for
  await Promise.all(OTHERS.map((n) => conns[n].flush()))
  await delay(300)
  return seen
}

async function storedAll(conns: Record<Other, NatsConnection>, markers: Markers) {
  return Object.fromEntries(await Promise.all(OTHERS.map(async (n) => [n, await markersStored(conns[n], markers)]))) as Record<Other, Set<Marker>>
}

t.test('honest nodes: local stays on a1, cluster reaches cluster a only, public reaches everyone', async (t) => {
  const topo = await meshTopology()
  const markers = newMarkers()
  const servers = {} as Record<TopologyNode, Awaited<ReturnType<typeof serve>>>
  for (const n of ['hub-a', 'hub-b', 'a1', 'a2', 'b1'] as const) servers[n] = await serve(t, n, meshServerTopology(topo[n]))
  await links('hub-a', servers['hub-a'], 3)
  await links('hub-b', servers['hub-b'], 2)
  const conns = Object.fromEntries(await Promise.all(OTHERS.map(async (n) => [n, await platform(t, servers[n], n)]))) as Record<Other, NatsConnection>
  const seen = await watchAll(conns, markers)
  await seedA1(await platform(t, servers.a1, 'a1'), markers)
  for (const n of OTHERS) await askForEverything(conns[n], n)
  await settle(seen)
  expectVisibility(t, seen, await storedAll(conns, markers))
})

t.test('misconfigured nodes: the hubs\' permissions, not Omni code, hold the line', async (t) => {
  const topo = await meshTopology()
  const markers = newMarkers()
  const hubA = await serve(t, 'hub-a', meshServerTopology(topo['hub-a']))
  const hubB = await serve(t, 'hub-b', meshServerTopology(topo['hub-b']))
  const a1 = await serve(t, 'a1', meshServerTopology(topo.a1))
  // (iii) a2's own server written by hand: its platform user has none of the platform's denies
  const a2 = await serve(t, 'a2', { ...meshServerTopology(topo.a2), platformPermissions: { publish: { allow: ['>'] }, subscribe: { allow: ['>'] } } })
  // (i) b1's server claims cluster a, with no leaf-side deny lists and no platform denies
  const b1Claims: ServerTopology = { ...meshServerTopology({ ...topo.b1, cluster: 'a' }), platformPermissions: { publish: { allow: ['>'] }, subscribe: { allow: ['>'] } } }
  const b1 = await serve(t, 'b1', b1Claims)
  // (ii) a rogue leaf: logs in with a2's credentials, calls itself a1 (its JetStream domain) and
  // serves a forged cluster outbox. Its server name is its own: a second server named a1 makes
  // the hub replace a1's link back and forth ("Duplicate Remote LeafNode Connection"), which
  // disturbs delivery but leaks nothing; docs/mesh-A.md says so.
  const rogue = await serve(t, 'rogue', { domain: 'a1', leafRemotes: [{ urls: topo.a2.hubs, user: 'a2', password: meshCredentials('a2').password }], monitorPort: 0 }, 'rogue-a1')
  await links('hub-a', hubA, 4)
  await links('hub-b', hubB, 2)
  const conns = { 'hub-a': await platform(t, hubA, 'hub-a'), 'hub-b': await platform(t, hubB, 'hub-b'), a2: await platform(t, a2, 'a2'), b1: await platform(t, b1, 'b1') }
  const seen = await watchAll(conns, markers)
  await seedA1(await platform(t, a1, 'a1'), markers)
  const rogueNc = await platform(t, rogue, 'rogue')
  // the rogue also asks to receive what is not its own: a1's API requests and its events
  for (const subject of [`${meshApiPrefix('a1')}.CONSUMER.CREATE.${EVENTS_STREAM}`, 'omni.evt.test.local-thing.v1', meshDeliverSubject('a', 'a1', 'cluster', 'a2')]) rogueNc.subscribe(subject, { callback: () => undefined })
  const rogueJsm = await jetstreamManager(rogueNc)
  await rogueJsm.streams.add({ name: meshOutboxStream('cluster'), subjects: [meshOutboxSubjects('cluster', 'a', 'a1')] })
  const forge = (subject: string) => {
    const h = natsHeaders()
    h.set('Omni-Marker', markers.forged)
    return { subject, data: JSON.stringify({ marker: markers.forged }), h }
  }
  const f = forge(meshOutboxSubject('cluster', 'a', 'a1', 'omni.evt.test.cluster-thing.v1'))
  await rogueNc.request(f.subject, f.data, { headers: f.h, timeout: 2_000 })

  for (const n of OTHERS) await askForEverything(conns[n], n)
  // (ii) the rogue also sends deliveries as a1 straight onto the link, for every receiver
  for (let i = 0; i < 20; i++) {
    for (const receiver of OTHERS) for (const vis of ['cluster', 'public'] as const) {
      const d = forge(meshDeliverSubject('a', 'a1', vis, receiver))
      rogueNc.publish(d.subject, d.data, { headers: d.h })
    }
    await delay(50)
  }
  // (iii) and (i): clients without the platform's denies call a1's JetStream API directly
  const attempts: Record<string, string> = {}
  const tryApi = async (who: string, nc: NatsConnection, subject: string, body: unknown) => {
    try {
      const reply = await nc.request(subject, JSON.stringify(body), { timeout: 1_500 })
      attempts[`${who} ${subject}`] = `answered: ${new TextDecoder().decode(reply.data).slice(0, 200)}`
    } catch (err) {
      attempts[`${who} ${subject}`] = `no data (${(err as Error).message})`
    }
  }
  const api = meshApiPrefix('a1')
  // all at once: each one that gets nothing waits out its timeout
  await Promise.all(
    (
      [
        ['a2', conns.a2, 'a2'],
        ['b1', conns.b1, 'b1'],
      ] as const
    ).flatMap(([who, nc, receiver]) => {
      const consumer = { stream_name: EVENTS_STREAM, config: { deliver_subject: meshDeliverSubject('a', 'a1', 'cluster', receiver), ack_policy: 'none', deliver_policy: 'all' } }
      return [
        tryApi(who, nc, `${api}.CONSUMER.CREATE.${EVENTS_STREAM}`, consumer),
        tryApi(who, nc, `${api}.CONSUMER.CREATE.${meshOutboxStream('cluster')}`, { ...consumer, stream_name: meshOutboxStream('cluster') }),
        tryApi(who, nc, `${api}.DIRECT.GET.${EVENTS_STREAM}`, { seq: 1 }),
        tryApi(who, nc, `${api}.STREAM.MSG.GET.${EVENTS_STREAM}`, { seq: 1 }),
        tryApi(who, nc, `${api}.STREAM.INFO.${EVENTS_STREAM}`, {}),
      ]
    }),
  )
  t.equal(Object.keys(attempts).length, 10, 'every attempt ran')
  // a2 may create consumers on a1's outboxes (that is how sourcing works), never on its events stream
  for (const [attempt, outcome] of Object.entries(attempts)) {
    if (attempt.startsWith('a2') && attempt.endsWith(`CREATE.${meshOutboxStream('cluster')}`)) continue
    t.match(outcome, /^no data/, `${attempt}: ${outcome}`)
  }
  t.match(attempts[`b1 ${api}.CONSUMER.CREATE.${meshOutboxStream('cluster')}`], /^no data/, 'b1, claiming cluster a, cannot open a consumer on a1\'s cluster outbox')
  await settle(seen)
  expectVisibility(t, seen, await storedAll(conns, markers))

  // Measured with nats-server 2.15.1: the hub logs no "Permissions Violation" here at all. It does
  // not pass the rogue the interest a leaf may not serve, so the rogue's server drops its forged
  // deliveries itself, and the rogue's denied subscriptions are ignored without a log line. The
  // line is held silently; the count is printed for the record, not asserted.
  const violations = (await readFile(hubA.logFile, 'utf8')).split('\n').filter((l) => /Violation/.test(l))
  t.comment(`hub-a logged ${violations.length} violation line(s)${violations[0] ? `, e.g. ${violations[0]}` : ''}`)
})
