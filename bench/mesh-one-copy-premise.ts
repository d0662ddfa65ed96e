// Checks the NATS premise of a one-copy mesh (docs/benchmark.md, "What bounds the mesh on two
// cores") across a real leaf link: a hub and two leaves with JetStream domains on loopback, the
// hub enforcing per-leaf permissions as the mesh's hub does. a1 keeps every visibility in one
// stream `EV` (ev.local.>, ev.cluster.>); a2 sources only ev.cluster.> of it straight into a
// stream of its own (`R2`, which also takes a2's own publishes), with no copy on a1. Then a
// client on a2 with every permission on its own server (a rogue leaf or process) tries to create
// consumers on EV for the local events. Each permission variant runs on fresh servers:
//
//   pinned   the hub lets a2 send, and a1 receive, only the filter-pinned consumer-create
//            subject ($JS.a1.API.CONSUMER.CREATE.EV.<name>.ev.cluster.>), flow control and replies
//   +bare    the same plus the stream's bare create subject ($JS.a1.API.CONSUMER.CREATE.EV)
//   +literal the pinned subject plus one literal subject inside it (LITERAL): nats-server passes a
//            leaf's interest in $JS.a1.API.> only when an allow entry is found under it, and its
//            reverse match does not descend below a `*` token (getAllNodes in server/sublist.go),
//            so the pinned pattern alone is never found; the literal adds nothing it did not allow
//   open     no permissions on the leaf users (the baseline: does sourcing work at all here)
//
// and prints, per variant: whether the cluster events arrived (and no local one), what each rogue
// request got, and whether JetStream deduplicated a sourced message against R2's own ids.
//
//   node bench/mesh-one-copy-premise.ts
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream'
import { connect, type NatsConnection } from '@nats-io/transport-node'
import { locateNatsBinary } from '../src/server/binary.ts'
import { freePort } from './lib/mesh-servers.ts'

const PINNED = '$JS.a1.API.CONSUMER.CREATE.EV.*.ev.cluster.>'
const BARE = '$JS.a1.API.CONSUMER.CREATE.EV'
const LITERAL = '$JS.a1.API.CONSUMER.CREATE.EV.x.ev.cluster.x'
const VARIANTS: readonly { name: string; create: readonly string[] | undefined }[] = [
  { name: 'pinned', create: [PINNED] },
  { name: '+bare', create: [BARE, PINNED] },
  { name: '+literal', create: [LITERAL, PINNED] },
  { name: 'open', create: undefined },
]
/** events of each visibility a1 stores before a2 starts sourcing */
const N = 200
const q = (s: string) => JSON.stringify(s)
const list = (xs: readonly string[]) => `[${xs.map(q).join(', ')}]`
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** A nats-server on a config of its own, killed when the variant ends. */
async function startServer(dir: string, name: string, config: string, children: ChildProcess[]): Promise<void> {
  const file = join(dir, `${name}.conf`)
  writeFileSync(file, config)
  const { path } = await locateNatsBinary()
  const child = spawn(path, ['-c', file], { stdio: 'ignore' })
  children.push(child)
}

async function connectTo(port: number, user: string, inboxPrefix: string): Promise<NatsConnection> {
  for (let i = 0; i < 100; i++) {
    try {
      return await connect({ servers: `127.0.0.1:${port}`, user, pass: user, inboxPrefix })
    } catch {
      await sleep(100)
    }
  }
  throw new Error(`no server answered on ${port} within 10 s`)
}

async function until(check: () => Promise<boolean>, ms: number): Promise<boolean> {
  const end = Date.now() + ms
  while (Date.now() < end) {
    if (await check().catch(() => false)) return true
    await sleep(100)
  }
  return false
}

/** How many messages of `stream` carry Nats-Msg-Id `id`. */
async function withId(jsm: JetStreamManager, stream: string, id: string): Promise<number> {
  const { state } = await jsm.streams.info(stream)
  let n = 0
  for (let seq = state.first_seq; seq <= state.last_seq; seq++) {
    const m = await jsm.streams.getMessage(stream, { seq }).catch(() => undefined)
    if (m?.header?.get('Nats-Msg-Id') === id) n++
  }
  return n
}

async function runVariant(variant: (typeof VARIANTS)[number]): Promise<Record<string, string>> {
  const dir = mkdtempSync(join(tmpdir(), 'omni-one-copy-'))
  const children: ChildProcess[] = []
  const out: Record<string, string> = {}
  try {
    const [hubPort, leafPort, a1Port, a2Port, monitorPort] = [await freePort(), await freePort(), await freePort(), await freePort(), await freePort()]
    // written from the leaf's side: publish = what it may send in, subscribe = what it may receive
    const perms = (send: readonly string[], receive: readonly string[]) => (variant.create ? `, permissions: { publish: { allow: ${list(send)} }, subscribe: { allow: ${list(receive)} } }` : '')
    const a1 = perms(['dlv.a2', 'dlv.a2.>', '$JSC.R.>', '$JS.FC.EV.>'], [...(variant.create ?? []), '$JS.FC.EV.>', '$JSC.R.>'])
    const a2 = perms([...(variant.create ?? []), '$JS.FC.EV.>', '$JSC.R.>'], ['dlv.a2', 'dlv.a2.>', '$JSC.R.>', '$JS.FC.EV.>'])
    await startServer(
      dir,
      'hub',
      `server_name: hub\nlisten: 127.0.0.1:${hubPort}\nhttp: 127.0.0.1:${monitorPort}\njetstream { store_dir: ${q(join(dir, 'hub'))}, domain: hub }\nleafnodes { listen: 127.0.0.1:${leafPort} }\n` +
        `authorization { users: [\n  { user: a1, password: a1, allowed_connection_types: ["LEAFNODE"]${a1} }\n  { user: a2, password: a2, allowed_connection_types: ["LEAFNODE"]${a2} }\n] }\n`,
      children,
    )
    for (const [name, port] of [['a1', a1Port], ['a2', a2Port]] as const) {
      await startServer(
        dir,
        name,
        `server_name: ${name}\nlisten: 127.0.0.1:${port}\njetstream { store_dir: ${q(join(dir, name))}, domain: ${name} }\n` +
          `authorization { users: [ { user: ${name}, password: ${name} } ] }\n` +
          `leafnodes { remotes: [ { url: "nats-leaf://${name}:${name}@127.0.0.1:${leafPort}", ignore_discovered_servers: true } ] }\n`,
        children,
      )
    }
    // both leaves linked before anything is sourced (a first sourcing attempt that fails backs off for long)
    const linked = await until(async () => ((await (await fetch(`http://127.0.0.1:${monitorPort}/leafz`)).json()) as { leafnodes: number }).leafnodes === 2, 10_000)
    if (!linked) throw new Error('the leaves did not link to the hub within 10 s')
    const nc1 = await connectTo(a1Port, 'a1', '_INBOX.a1')
    const nc2 = await connectTo(a2Port, 'a2', '_INBOX.a2')
    const [jsm1, jsm2] = [await jetstreamManager(nc1), await jetstreamManager(nc2)]
    const [js1, js2] = [jetstream(nc1), jetstream(nc2)]
    await jsm1.streams.add({ name: 'EV', subjects: ['ev.>'], duplicate_window: 120_000_000_000 })
    for (let i = 0; i < N; i++) {
      await js1.publish(`ev.cluster.t${i % 3}`, JSON.stringify({ i }), { msgID: `id-${i}` })
      await js1.publish(`ev.local.t${i % 3}`, JSON.stringify({ i }), { msgID: `local-${i}` })
    }
    // an id a1 also used for a cluster event, stored on a2 before the sourcing starts
    await jsm2.streams.add({ name: 'R2', subjects: ['own.>'], duplicate_window: 120_000_000_000 })
    await js2.publish('own.x', 'a2 first', { msgID: 'id-7' })
    const { config } = await jsm2.streams.info('R2')
    await jsm2.streams.update('R2', { ...config, sources: [{ name: 'EV', external: { api: '$JS.a1.API', deliver: 'dlv.a2' }, subject_transforms: [{ src: 'ev.cluster.>', dest: 'rcv.a1.cluster.>' }] }] })
    const arrived = await until(async () => (await jsm2.streams.info('R2')).state.messages >= N, 15_000)
    const subjects = Object.keys((await jsm2.streams.info('R2', { subjects_filter: '>' })).state.subjects ?? {})
    const sourced = (await jsm2.streams.info('R2')).state.messages - 1
    out['cluster events sourced'] = `${sourced} of ${N}${arrived ? '' : ' (15 s waited)'}; local ones on a2: ${subjects.filter((s) => s.includes('local')).length}`
    if (sourced > 0) {
      out['a1 id-7 vs a2 id-7 stored first'] = (await withId(jsm2, 'R2', 'id-7')) === 2 ? 'both kept' : 'the sourced one dropped as a duplicate'
      out['a2 publishes id-9 after a1 id-9 was sourced'] = (await js2.publish('own.y', 'a2 after', { msgID: 'id-9' })).duplicate ? 'refused as a duplicate' : 'stored'
    }
    // the rogue: every permission on a2's own server; replies on $JSC.R.>, which the hub lets a2 receive
    const rogue = await connectTo(a2Port, 'a2', '$JSC.R.rogue')
    const create = async (subject: string, name: string | undefined): Promise<string> => {
      const body = JSON.stringify({ stream_name: 'EV', config: { ...(name ? { name } : {}), filter_subject: 'ev.local.>', ack_policy: 'none', deliver_subject: 'dlv.a2.rogue' } })
      try {
        const r = JSON.parse((await rogue.request(subject, body, { timeout: 3000 })).string()) as { error?: { err_code: number; description: string }; name?: string }
        return r.error ? `refused: ${r.error.err_code} ${r.error.description}` : `CREATED (${r.name})`
      } catch (err) {
        return `no answer: ${(err as Error).message.replace(/:.*$/, '')}`
      }
    }
    out['pinned to ev.local.>'] = await create('$JS.a1.API.CONSUMER.CREATE.EV.r1.ev.local.>', 'r1')
    out['pinned to ev.cluster.>, body ev.local.>'] = await create('$JS.a1.API.CONSUMER.CREATE.EV.r2.ev.cluster.>', 'r2')
    out['named, unpinned'] = await create('$JS.a1.API.CONSUMER.CREATE.EV.r3', 'r3')
    out['bare (ephemeral)'] = await create(BARE, undefined)
    const leaked: string[] = []
    for await (const c of jsm1.consumers.list('EV')) if ((c.config.filter_subject ?? '').startsWith('ev.local')) leaked.push(c.name)
    out['consumers on local events afterwards'] = leaked.length === 0 ? 'none' : leaked.join(', ')
    await Promise.all([nc1.close(), nc2.close(), rogue.close()])
  } finally {
    for (const c of children) c.kill('SIGKILL')
    rmSync(dir, { recursive: true, force: true })
  }
  return out
}

const rows = new Map<string, Record<string, string>>()
for (const v of VARIANTS) {
  rows.set(v.name, await runVariant(v))
  console.log(`${v.name}: ${JSON.stringify(rows.get(v.name))}`)
}
const keys = [...new Set([...rows.values()].flatMap((r) => Object.keys(r)))]
console.log(`\n| | ${VARIANTS.map((v) => `\`${v.name}\``).join(' | ')} |\n|---|${VARIANTS.map(() => '---').join('|')}|`)
for (const k of keys) console.log(`| ${k} | ${VARIANTS.map((v) => rows.get(v.name)?.[k] ?? '–').join(' | ')} |`)
