// The ledger scenarios of issue 12 §7, each run while events flow. A scenario drives faults;
// the runner reconciles the ledger afterwards, so no scenario judges itself.
import { readFileSync, writeFileSync } from 'node:fs'
import { jetstreamManager } from '@nats-io/jetstream'
import { RECORDER } from '../../src/clickhouse/recorder.ts'
import { markerKey } from '../../src/cartridges/guard/dedup.ts'
import { EVENTS_STREAM } from '../../src/jetstream/topology.ts'
import type { ManagedNatsServer } from '../../src/server/mod.ts'
import { streamCaughtUp } from '../lib/nats-cluster.ts'
import { WATCH_SETTLE_MS } from '../../src/node/services/pipelines.ts'
import { additiveMsgId, CLIENT_ORIGIN, deadLetterMsgId, ingestMsgId, outputMsgId, redriveMsgId } from '../../src/wire/mod.ts'
import { sleep, type ScenarioContext } from './context.ts'
import { CRASH_CODE, CRASH_ON_POISON_CODE, PASS_CODE } from './plugins.ts'
import { OUTPUT, PIPELINE, SOURCE } from './reconcile.ts'

export interface LedgerScenario {
  readonly id: number
  readonly title: string
  /**
   * runs with the lowered duplicate window (--duplicate-window); the others keep the platform's
   * default, so their result does not depend on how a restart compares with a short window
   */
  readonly lowWindow?: boolean
  /** runs on a hub and two leaves: events sent on a1, the pipeline and ClickHouse on a2 */
  readonly mesh?: boolean
  /** runs on three routed servers, every stream and bucket with three copies */
  readonly cluster?: boolean
  run(ctx: ScenarioContext): Promise<void>
}

/** The ledger pipeline with an approved-path plugin stage and an alpha one beside it. */
function pluginPipeline(approved: [string, string], alpha: [string, string]): string {
  return `kind: Pipeline
name: ${PIPELINE}
description: dedup → plugins, for omni verify ledger.
sources: [${SOURCE}]
errorPolicy: { maxDeliveries: 3, backoff: [50ms] }
stages:
  - { id: dedup, uses: guard.dedup }
  - { id: ${approved[0]}, uses: 'plugin:${approved[1]}', needs: [dedup] }
  - { id: ${alpha[0]}, uses: 'plugin:${alpha[1]}', needs: [dedup] }
outputs:
  - subject: ${OUTPUT}
`
}

const third = (ctx: ScenarioContext) => Math.max(1, Math.floor(ctx.events / 3))

/** Runs the flow on a platform that kills itself at `killAt`, then starts another in its place. */
async function killAndRestart(ctx: ScenarioContext, killAt: string): Promise<void> {
  const first = ctx.platform({ killAt })
  await first.ready
  const flow = ctx.flow(0, ctx.events)
  // a fault that never fires (too few acks) must not hang the run: it shows in the notes
  const how = await Promise.race([first.exited, flow.then(() => ctx.settle()).then(() => 'nothing: the fault never fired')])
  ctx.note(`platform exited by ${how}`)
  if (typeof how === 'string' && how.startsWith('nothing')) return
  const heir = ctx.platform()
  await heir.ready
  await flow
}

/** How long a mesh fault lasts: events keep being sent and acknowledged on a1 meanwhile. */
export const MESH_FAULT_MS = 3000
/**
 * How long a2 may take to admit everything after the last send. A SIGKILLed hub, once back, can
 * leave the inbox's sourcing idle for tens of seconds on a busy machine (48 s measured with the
 * machine's load at 10 on 2 cores; 1–2 s after a cut link).
 */
export const MESH_CATCH_UP_MS = 120_000
/** A mesh flow lasts about this long, so the fault has events before, during and after it. */
const MESH_FLOW_MS = 3 * MESH_FAULT_MS

/**
 * The flow of a mesh scenario: a2 (receiver) and a1 (sender) up, events sent to a1 while `fault`
 * runs from a third of them on; `fault` takes the link down and restores it.
 */
async function meshFlow(ctx: ScenarioContext, what: string, fault: () => Promise<void>): Promise<void> {
  const mesh = ctx.mesh
  if (!mesh) throw new Error('a mesh scenario needs the mesh context')
  await ctx.platform({ on: 'a2' }).ready
  await ctx.platform({ on: 'a1' }).ready
  let faulted: Promise<void> | undefined
  const perTick = 10
  await ctx.flow(0, ctx.events, {
    perTick,
    tickMs: Math.max(5, Math.floor(MESH_FLOW_MS / Math.ceil(ctx.events / perTick))),
    at: (i) => {
      if (i !== third(ctx)) return
      const started = performance.now()
      // not awaited: events go on being sent to a1 while the link is down
      faulted = fault().then(async () => {
        const healed = await mesh.servers.linked(30_000)
        ctx.measured['relinkMs'] = Math.round(performance.now() - started)
        ctx.note(`${what} ${MESH_FAULT_MS} ms; ${healed ? `links back ${ctx.measured['relinkMs']} ms after the fault began` : 'the links did not come back in 30 s'}`)
      })
    },
  })
  await faulted
  // how long after the last send a2 had admitted every acknowledged event (bounded; settle checks again)
  const flowEnd = performance.now()
  const acked = new Set(ctx.ledger.of(ctx.run).map((e) => e.n)).size
  while ((await mesh.received()) < acked && performance.now() - flowEnd < MESH_CATCH_UP_MS) await sleep(100)
  ctx.measured['catchUpMs'] = Math.round(performance.now() - flowEnd)
  ctx.note(`a2 had every acknowledged event ${ctx.measured['catchUpMs']} ms after the last send`)
}

export const SCENARIOS: readonly LedgerScenario[] = [
  {
    id: 1,
    title: 'nats-server SIGKILLed and restarted',
    async run(ctx) {
      await ctx.platform().ready
      await ctx.flow(0, ctx.events, {
        at: async (i) => {
          if (i !== third(ctx)) return
          ctx.server.kill('SIGKILL')
          await sleep(500)
          await ctx.server.restart()
          // the flow goes on once the producer's connection is back (bounded: 20 s)
          for (let k = 0; k < 80 && !(await ctx.jsm.streams.info(EVENTS_STREAM).then(() => true, () => false)); k++) await sleep(250)
        },
      })
    },
  },
  {
    id: 2,
    title: 'platform SIGKILLed between output publish and ack',
    run: (ctx) => killAndRestart(ctx, `${PIPELINE}:${third(ctx)}`),
  },
  {
    id: 3,
    title: 'platform SIGKILLed between ClickHouse insert and ack',
    run: (ctx) => killAndRestart(ctx, `${RECORDER}:${third(ctx)}`),
  },
  {
    id: 4,
    title: 'ClickHouse unavailable longer than the duplicate window',
    lowWindow: true,
    async run(ctx) {
      const downMs = 3 * ctx.duplicateWindowMs
      ctx.note(`ClickHouse down ${downMs} ms, window ${ctx.duplicateWindowMs} ms`)
      await ctx.platform({ chDownMs: downMs }).ready
      await ctx.flow(0, ctx.events)
    },
  },
  {
    id: 5,
    title: 'the same events re-sent after the duplicate window',
    lowWindow: true,
    async run(ctx) {
      await ctx.platform().ready
      await ctx.flow(0, ctx.events)
      await ctx.settle()
      await sleep(ctx.duplicateWindowMs + 500)
      await ctx.flow(0, ctx.events)
    },
  },
  {
    id: 6,
    title: 'poison events that fail every delivery',
    async run(ctx) {
      await ctx.platform().ready
      await ctx.flow(0, ctx.events, { poison: (n) => n % 25 === 7 })
    },
  },
  {
    id: 7,
    title: 'a plugin crashing its sandbox on every event (approved and alpha)',
    async run(ctx) {
      await ctx.plugins([
        { id: 'ledger.crash-approved', tier: 'verified', code: CRASH_ON_POISON_CODE },
        { id: 'ledger.crash-alpha', tier: 'alpha', code: CRASH_CODE },
      ])
      ctx.writePipeline(pluginPipeline(['approved', 'ledger.crash-approved'], ['alpha', 'ledger.crash-alpha']))
      await ctx.platform().ready
      // the alpha plugin crashes on every event, the approved one on every poison event; in
      // bursts, so poison events share batches with others, as they do under load
      await ctx.flow(0, ctx.events, { poison: (n) => n % 25 === 3, perTick: 50 })
    },
  },
  {
    id: 8,
    title: 'slow ClickHouse under load at twice the drain rate',
    async run(ctx) {
      const child = ctx.platform({ chSlowMs: 50 })
      await child.ready
      // everything at once: the offer is far above what a slowed sink drains
      await ctx.flow(0, ctx.events, { perTick: 1000, tickMs: 1 })
      await ctx.settle(180_000)
      ctx.measured['peakRssMb'] = Math.round(child.peakRss() / 2 ** 20)
      ctx.note(`platform peak RSS ${ctx.measured['peakRssMb']} MB`)
    },
  },
  {
    id: 9,
    title: 'SIGTERM during a pipeline reload',
    async run(ctx) {
      const first = ctx.platform({ watch: true, logLevel: 'info' })
      await first.ready
      const file = ctx.pipelineFile
      await ctx.flow(0, ctx.events, {
        at: async (i) => {
          if (i !== third(ctx)) return
          // a changed error policy makes the reload replace the pipeline's worker
          const before = readFileSync(file, 'utf8')
          const after = before.replace('backoff: [50ms]', 'backoff: [60ms]')
          // an unchanged file would reload nothing, and the scenario would test a plain SIGTERM
          if (after === before) throw new Error(`scenario 9 needs "backoff: [50ms]" in ${file} to change it`)
          writeFileSync(file, after)
          // the watcher lets the files settle, then reloads: SIGTERM lands in it
          await sleep(WATCH_SETTLE_MS)
          first.kill('SIGTERM')
          const how = await first.exited
          ctx.note(`platform exited by ${how}, ${/pipelines reloaded/.test(first.stderr()) ? 'after the reload finished' : 'before the reload finished'}`)
          await ctx.platform().ready
        },
      })
    },
  },
  {
    id: 10,
    title: 'a revoke while a plugin is in use',
    async run(ctx) {
      const plugins = await ctx.plugins([
        { id: 'ledger.pass', tier: 'verified', code: PASS_CODE },
        { id: 'ledger.watch', tier: 'alpha', code: PASS_CODE },
      ])
      const yaml = pluginPipeline(['approved', 'ledger.pass'], ['alpha', 'ledger.watch'])
      ctx.writePipeline(yaml)
      await ctx.platform({ watch: true }).ready
      await ctx.flow(0, ctx.events, {
        at: async (i) => {
          if (i !== third(ctx)) return
          // the alpha plugin is yanked; touching the pipeline makes the watching platform reload
          await plugins.yank('ledger.watch', 'revoked by omni verify ledger')
          ctx.writePipeline(yaml.replace('description: ', 'description: after the revoke, '))
          // time for the reload; events from here on must not meet the revoked code
          await sleep(2000)
          ctx.mark(i)
          ctx.note("'after the fault' counts the revoked alpha stage's outcomes on events sent 2 s after the revoke")
        },
      })
    },
  },
  {
    id: 11,
    title: 'forged idempotency keys (internal id shapes)',
    async run(ctx) {
      await ctx.platform().ready
      const key = (n: number) => `ledger.tick.v1:${ctx.run}|${n}`
      // the ledger's events are the default tenant's
      const TENANT = 'default'
      // each forged event is its own event (n + 1,000,000) whose key is, letter for letter, an id
      // the platform gives a real message (built with its own helpers, so a change of format is
      // followed), or the output id of the days before namespaces
      const forge = [
        (n: number) => `${key(n)}@${PIPELINE}@${OUTPUT}`,
        (n: number) => outputMsgId(TENANT, key(n), PIPELINE, OUTPUT),
        (n: number) => ingestMsgId(TENANT, key(n + 1)),
        (n: number) => redriveMsgId(PIPELINE, n),
        (n: number) => deadLetterMsgId(PIPELINE, n),
        (n: number) => additiveMsgId(PIPELINE, 'check', TENANT, key(n), OUTPUT),
        (n: number) => markerKey(PIPELINE, CLIENT_ORIGIN, TENANT, key(n + 1)),
      ]
      const forged: Promise<boolean>[] = []
      await ctx.flow(0, ctx.events, {
        at: (i) => {
          const f = forge[i % forge.length]
          if (i % 5 === 0 && f) forged.push(ctx.send(1_000_000 + i, { idempotencykey: f(i) }))
        },
      })
      await Promise.all(forged)
    },
  },
  {
    id: 12,
    title: 'the stream full (max_bytes reached)',
    async run(ctx) {
      const first = ctx.platform()
      await first.ready
      const tenth = Math.max(1, Math.floor(ctx.events / 10))
      await ctx.flow(0, tenth)
      await ctx.settle()
      // consumers are down while ingest goes on (an ingest-only platform serves the API), so a
      // backlog builds up in the stream
      await first.stop()
      const ingest = ctx.platform({ ingestOnly: true })
      await ingest.ready
      const info = await ctx.jsm.streams.info(EVENTS_STREAM)
      const perEvent = info.state.bytes / Math.max(1, info.state.messages)
      // room for about another tenth of the events; the rest must be refused, not make room
      const maxBytes = Math.ceil(info.state.bytes + perEvent * tenth)
      await ctx.jsm.streams.update(EVENTS_STREAM, { ...info.config, max_bytes: maxBytes })
      await ctx.flow(tenth, ctx.events - tenth)
      ctx.note(`max_bytes ${maxBytes}; refused ${ctx.sent() - ctx.ledger.of(ctx.run).length}`)
      // the operator makes room again and starts the whole platform: what was acknowledged must come through
      await ingest.stop()
      const now = await ctx.jsm.streams.info(EVENTS_STREAM)
      await ctx.jsm.streams.update(EVENTS_STREAM, { ...now.config, max_bytes: -1 })
      await ctx.platform().ready
    },
  },
  {
    id: 13,
    title: 'mesh: the hub SIGKILLed and restarted (a1 → hub → a2)',
    mesh: true,
    run: (ctx) =>
      meshFlow(ctx, 'hub SIGKILLed for', async () => {
        const hub = ctx.mesh?.servers.hub
        if (!hub) return
        hub.kill('SIGKILL')
        await hub.closed()
        await sleep(MESH_FAULT_MS)
        await hub.restart()
      }),
  },
  {
    id: 14,
    title: "mesh: a1's leaf link cut and restored (a1 → hub → a2)",
    mesh: true,
    run: (ctx) =>
      meshFlow(ctx, 'a1 link cut for', async () => {
        const proxy = ctx.mesh?.servers.proxy
        if (!proxy) throw new Error("scenario 14 cuts a1's link at its proxy, and this mesh links a1 straight to the hub")
        proxy.cut()
        await sleep(MESH_FAULT_MS)
        proxy.restore()
      }),
  },
  {
    id: 15,
    title: "cluster: the events stream's leader SIGKILLed, one of three routed nats-servers",
    cluster: true,
    async run(ctx) {
      await ctx.platform().ready
      let killed: ManagedNatsServer | undefined
      await ctx.flow(0, ctx.events, {
        at: async (i) => {
          const cluster = ctx.cluster
          if (i !== third(ctx) || !cluster) return
          const leader = (await ctx.jsm.streams.info(EVENTS_STREAM)).cluster?.leader ?? 'n1'
          killed = cluster.byName[leader] ?? cluster.servers[0]
          killed?.kill('SIGKILL')
          const at = performance.now()
          // short requests: one to the dead leader would otherwise wait the default 5 s
          const probe = await jetstreamManager(ctx.nc, { timeout: 500, checkAPI: false })
          // the flow goes on once the stream answers from a new leader (bounded: 30 s)
          while (performance.now() - at < 30_000 && !(await probe.streams.info(EVENTS_STREAM).then((s) => Boolean(s.cluster?.leader), () => false))) await sleep(100)
          ctx.measured['newLeaderMs'] = Math.round(performance.now() - at)
          ctx.note(`${leader} (the events stream's leader) SIGKILLed; a new leader answered after ${ctx.measured['newLeaderMs']} ms`)
        },
      })
      if (!killed || !ctx.cluster) return
      // back on its own store, it catches up with the other two
      const at = performance.now()
      await killed.restart()
      await ctx.cluster.healthy()
      // the reconciliation reads the stream: from copies that hold everything
      const caughtUp = await streamCaughtUp(ctx.jsm, EVENTS_STREAM, 30_000)
      ctx.measured['rejoinMs'] = Math.round(performance.now() - at)
      if (!caughtUp) ctx.note('the restarted server had not caught up within 30 s')
      ctx.note(`restarted and caught up after ${ctx.measured['rejoinMs']} ms`)
    },
  },
]
