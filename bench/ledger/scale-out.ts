// Scale-out runs: platform processes (ClickHouse off) on one NATS URL list — a single server or a
// cluster — while the harness publishes numbered ledger events through the platform's ingest path
// (publishEvent, PubAcks) and, optionally, SIGKILLs a nats-server of the cluster mid-flow. Counts
// every acknowledged event's input and output in the events stream: what the chart's replicas rely on.
import { cpSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { jetstream, jetstreamManager } from '@nats-io/jetstream'
import type { EventCatalog } from '../../src/catalog/catalog.ts'
import { publishEvent } from '../../src/ingest/publish.ts'
import { connectNats } from '../../src/jetstream/connect.ts'
import { createPublisher } from '../../src/jetstream/publisher.ts'
import { consumerName, ensureStreams, EVENTS_STREAM } from '../../src/jetstream/topology.ts'
import { loadManifestsOrThrow } from '../../src/manifests/load.ts'
import { streamCaughtUp } from '../lib/nats-cluster.ts'
import { ledgerLookup } from './cartridges.ts'
import { startPlatform, type PlatformChild } from './platform.ts'
import { OUTPUT, PIPELINE, readRun, SOURCE } from './reconcile.ts'

const FIXTURES = fileURLToPath(new URL('./fixtures/', import.meta.url))
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

/** The fault a run injects: SIGKILL the server that leads the events stream, at a third of the events. */
export interface ServerKill {
  /** the cluster's servers by name (`n1`…), each killable and restartable */
  readonly servers: Readonly<Record<string, { kill(signal?: NodeJS.Signals): void; restart(): Promise<void> }>>
  /** resolves once the cluster is healthy again after the restart */
  readonly healthy: () => Promise<void>
}

export interface ScaleOutOptions {
  /** the NATS URL, or a cluster's URLs comma-separated */
  readonly natsUrl: string
  readonly events: number
  /** platform processes sharing the pipeline (default 1) */
  readonly platforms?: number
  /** stream and bucket copies (default: the platform's own default) */
  readonly replicas?: number
  readonly kill?: ServerKill
  /** the longest the run waits for the pipeline to catch up (default 60 s) */
  readonly settleMs?: number
}

export interface ScaleOutResult {
  readonly sent: number
  /** distinct events acknowledged by a PubAck (each retried with the same id until it was) */
  readonly acked: number
  /** events whose first publish got no ack (timed out, or refused while the cluster re-elected) and was sent again */
  readonly retried: number
  readonly inputsStored: number
  readonly outputsFound: number
  /** acknowledged events missing from the stream, or whose output is missing */
  readonly lost: number
  /** input copies beyond the first, and output copies beyond the first */
  readonly duplicated: number
  /** the stream's own message counts on the input and output subjects, beside what was read */
  readonly streamCounts: { readonly inputs: number; readonly outputs: number }
  /** distinct input sequences each platform process acknowledged */
  readonly perPlatform: readonly number[]
  /** the same, counted when the server was killed */
  readonly perPlatformAtKill?: readonly number[]
  /** the last log lines (warnings and errors) of each platform process, for a report */
  readonly logs: readonly string[]
  /** sequences acknowledged by more than one process (redelivered after an ack was lost; the dedup stage kept outputs single) */
  readonly handledTwice: number
  /** the server SIGKILLed, and from the kill to the next PubAck of an event sent after it */
  readonly killed?: { readonly server: string; readonly ackGapMs: number; readonly rejoinMs: number }
  /** from the last PubAck until nothing was pending */
  readonly settleMs: number
  readonly settled: boolean
  readonly totalMs: number
}

/** Runs one scale-out flow and reconciles it; stops its platform processes and removes its folder. */
export async function runScaleOut(opts: ScaleOutOptions): Promise<ScaleOutResult> {
  const started = performance.now()
  const dir = mkdtempSync(join(tmpdir(), 'omni-scale-out-'))
  const manifests = join(dir, 'manifests')
  cpSync(FIXTURES, manifests, { recursive: true })
  const nc = await connectNats(opts.natsUrl, { name: 'omni-scale-out' })
  const js = jetstream(nc)
  const jsm = await jetstreamManager(nc)
  const publisher = createPublisher(nc)
  const children: PlatformChild[] = []
  try {
    // the harness is the operator: streams first, with small byte limits (each copy reserves them)
    await ensureStreams(jsm, { maxBytes: 256 * 1024 * 1024, rawMaxBytes: 64 * 1024 * 1024, ...(opts.replicas !== undefined ? { replicas: opts.replicas } : {}) })
    const { catalog } = await loadManifestsOrThrow(manifests, ledgerLookup)
    for (let i = 0; i < (opts.platforms ?? 1); i++) {
      children.push(startPlatform({ natsUrl: opts.natsUrl, manifests, data: join(dir, `data-${i}`), ingestOnly: true, reportAcks: PIPELINE, logLevel: 'warn', ...(opts.replicas !== undefined ? { replicas: opts.replicas } : {}) }))
    }
    await Promise.all(children.map((c) => c.ready))

    const run = `scale-${Date.now().toString(36)}`
    let sent = 0
    let retried = 0
    const acked = new Set<number>()
    let killedAt: number | undefined
    let firstAckAfterKill: number | undefined
    let lastAck = 0
    // a producer that keeps its promise: a publish without an ack is sent again with the same id
    const send = async (n: number): Promise<void> => {
      for (let attempt = 0; attempt < 40; attempt++) {
        sent++
        if (attempt === 1) retried++
        const sentAt = performance.now()
        try {
          await publishEvent(publisher, catalog as EventCatalog, { type: 'ledger.tick', data: { run, n, text: 'a scale-out event' } })
          acked.add(n)
          lastAck = performance.now()
          if (killedAt !== undefined && sentAt >= killedAt && firstAckAfterKill === undefined) firstAckAfterKill = lastAck
          return
        } catch {
          await sleep(250)
        }
      }
    }
    let killed: { server: string; at: number } | undefined
    let atKill: number[] | undefined
    const pending: Promise<void>[] = []
    const perTick = 20
    for (let n = 0; n < opts.events; n++) {
      if (opts.kill && n === Math.floor(opts.events / 3)) {
        const leader = (await jsm.streams.info(EVENTS_STREAM)).cluster?.leader
        const target = leader && opts.kill.servers[leader] ? leader : Object.keys(opts.kill.servers)[0]
        if (target) {
          opts.kill.servers[target]?.kill('SIGKILL')
          killedAt = performance.now()
          killed = { server: target, at: killedAt }
          atKill = children.map((c) => new Set(c.acked()).size)
        }
      }
      pending.push(send(n))
      if ((n + 1) % perTick === 0) await sleep(10)
    }
    await Promise.all(pending)
    const flowEnd = performance.now()
    let rejoinMs = 0
    if (opts.kill && killed) {
      // the killed server comes back on its store and catches up with the others
      const back = performance.now()
      await opts.kill.servers[killed.server]?.restart()
      await opts.kill.healthy()
      rejoinMs = performance.now() - back
      // read only once every copy holds everything: a reader placed on a copy still catching up sees less
      await streamCaughtUp(jsm, EVENTS_STREAM, 30_000)
    }
    const settled = await settle(jsm, opts.settleMs ?? 60_000)
    const settleMs = performance.now() - Math.max(lastAck, flowEnd)
    await Promise.all(children.map((c) => c.stop()))

    const inputs = countBy(await readRun(js, jsm, SOURCE, run))
    const outputs = countBy(await readRun(js, jsm, OUTPUT, run))
    // what the stream itself counts on each subject (a fresh server per run: all of them are this run's)
    const subjects = (await jsm.streams.info(EVENTS_STREAM, { subjects_filter: '>' })).state.subjects ?? {}
    let lost = 0
    let duplicated = 0
    for (const n of acked) lost += (inputs.has(n) ? 0 : 1) + (outputs.has(n) ? 0 : 1)
    for (const c of inputs.values()) duplicated += c - 1
    for (const c of outputs.values()) duplicated += c - 1
    const perProcess = children.map((c) => new Set(c.acked()))
    const seen = new Map<number, number>()
    for (const s of perProcess) for (const seq of s) seen.set(seq, (seen.get(seq) ?? 0) + 1)
    return {
      sent,
      acked: acked.size,
      retried,
      inputsStored: [...acked].filter((n) => inputs.has(n)).length,
      outputsFound: [...acked].filter((n) => outputs.has(n)).length,
      lost,
      duplicated,
      streamCounts: { inputs: subjects[SOURCE] ?? 0, outputs: subjects[OUTPUT] ?? 0 },
      perPlatform: perProcess.map((s) => s.size),
      ...(atKill ? { perPlatformAtKill: atKill } : {}),
      logs: children.map((c) => c.stderr().slice(-2000)),
      handledTwice: [...seen.values()].filter((c) => c > 1).length,
      ...(killed ? { killed: { server: killed.server, ackGapMs: Math.round((firstAckAfterKill ?? lastAck) - killed.at), rejoinMs: Math.round(rejoinMs) } } : {}),
      settleMs: Math.round(settleMs),
      settled,
      totalMs: Math.round(performance.now() - started),
    }
  } finally {
    await Promise.all(children.map((c) => c.stop()))
    await publisher.close()
    await nc.close().catch(() => undefined)
    rmSync(dir, { recursive: true, force: true })
  }
}

/** Waits (bounded) until the ledger pipeline's consumer has nothing pending or unacknowledged, twice 300 ms apart. */
async function settle(jsm: Awaited<ReturnType<typeof jetstreamManager>>, timeoutMs: number): Promise<boolean> {
  const until = Date.now() + timeoutMs
  let quiet = 0
  while (Date.now() < until) {
    const left = await jsm.consumers.info(EVENTS_STREAM, consumerName(PIPELINE)).then((i) => i.num_pending + i.num_ack_pending, () => 1)
    quiet = left === 0 ? quiet + 1 : 0
    if (quiet >= 2) return true
    await sleep(300)
  }
  return false
}

function countBy(items: readonly { n: number }[]): Map<number, number> {
  const m = new Map<number, number>()
  for (const { n } of items) m.set(n, (m.get(n) ?? 0) + 1)
  return m
}
