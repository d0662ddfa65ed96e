// A plugin that crashes or hangs its sandbox on one ("poison") event must fail that event only,
// whatever the load: ledger scenario 7 (issue 12). Real isolates throughout.
import t, { type Test } from 'tap'
import { createCatalog } from '../../src/catalog/catalog.ts'
import type { Cartridge } from '../../src/pipeline/stage.ts'
import { executePipeline, type EventOutcome } from '../../src/pipeline/executor.ts'
import { pluginCartridge } from '../../src/pipeline/plugin-stage.ts'
import type { CartridgeLookup } from '../../src/pipeline/stage-builder.ts'
import { createIsolateRuntime } from '../../src/sandbox/isolate/runtime.ts'
import type { PluginInstance } from '../../src/sandbox/types.ts'
import { compileText, testLookup } from '../fixtures/manifests.ts'
import { pluginCode, testEvent } from '../fixtures/sandbox-plugins.ts'

t.setTimeout(60_000)

/** Spins until the sandbox's own time limit ends the call, on poison events only. */
const HANG_ON_POISON = `function stage(input) {
  if (input.event.data.poison === true) while (true) {}
  return { type: 'continue', labels: { ran: true } }
}`
/** Allocates until the isolate's memory limit disposes it, on poison events only (bench/ledger). */
const OOM_ON_POISON = `function stage(input) {
  if (input.event.data.poison !== true) return { type: 'continue', labels: { ran: true } }
  const hoard = []
  while (true) hoard.push(new Array(1 << 16).fill(hoard.length))
}`

async function pipelineWith(t: Test, source: string, limits: { timeoutMs: number; memoryMb?: number }, stageTimeout: string, additive = false) {
  const runtime = createIsolateRuntime()
  t.teardown(() => runtime.close())
  const instance: PluginInstance = await runtime.load(pluginCode('acme.poisoned', source, limits))
  const cart = pluginCartridge({ plugin: 'acme.poisoned', description: 'x', additive, tenants: ['*'], emit: [], instance: async () => instance })
  const lookup: CartridgeLookup = (id) => (id === cart.id ? (cart as Cartridge) : testLookup(id))
  const pipeline = compileText(`kind: Pipeline\nname: p\nsources: [omni.evt.test.note-created.v1]\nstages:\n  - { id: plug, uses: 'plugin:acme.poisoned', timeout: ${stageTimeout} }\n`, lookup)
  const catalog = createCatalog([])
  const exec = (n: number, poison = false, attempt = 1, data: Record<string, unknown> = {}): Promise<EventOutcome> =>
    Promise.resolve(executePipeline(pipeline, testEvent(n, { ...data, ...(poison ? { poison: true } : {}) }), { catalog, services: { now: Date.now }, attempt }))
  return { exec, instance }
}

t.test('a poison event that costs its batch more than the stage timeout fails alone; the others in its batch and queued behind it pass', async (t) => {
  // the poison hangs for the plugin's 800 ms; the stage allows 250 ms of an event's own work
  const { exec } = await pipelineWith(t, HANG_ON_POISON, { timeoutMs: 800 }, '250ms')
  // one turn: the poison shares a batch call with 30 events; 30 more arrive in the next turn,
  // and their call queues behind that batch call and its reruns
  const first = [exec(1, true), ...Array.from({ length: 30 }, (_, i) => exec(100 + i))]
  await new Promise((r) => setImmediate(r))
  const queued = Array.from({ length: 30 }, (_, i) => exec(200 + i))
  const [poison, ...others] = await Promise.all([...first, ...queued])
  t.match(poison, { type: 'failed', stage: 'plug' }, 'the poison event fails')
  const failed = others.filter((o) => o.type !== 'done')
  t.same(
    failed.map((o) => (o.type === 'failed' ? o.error.message : o.type)),
    [],
    'no innocent event fails',
  )
})

t.test('an event found at fault runs alone on its next attempt, after the batch of the others', async (t) => {
  const { exec } = await pipelineWith(t, HANG_ON_POISON, { timeoutMs: 1000 }, '5s')
  const first = await Promise.all([exec(1, true), ...Array.from({ length: 5 }, (_, i) => exec(100 + i))])
  t.match(first[0], { type: 'failed', stage: 'plug', error: { message: /time limit/ } })
  t.ok(first.slice(1).every((o) => o.type === 'done'))
  // its retry arrives first in a batch with others: were it in their batch call again, they
  // would wait for its hang (1 s) and then for its rerun alone (1 s more)
  const started = performance.now()
  const retry = exec(1, true, 2).then((o) => ({ o, ms: performance.now() - started }))
  const others = Array.from({ length: 5 }, (_, i) => exec(300 + i).then((o) => ({ o, ms: performance.now() - started })))
  const done = await Promise.all(others)
  const poison = await retry
  t.match(poison.o, { type: 'failed', stage: 'plug', error: { message: /time limit/ } })
  t.ok(done.every((d) => d.o.type === 'done'))
  const slowest = Math.max(...done.map((d) => d.ms))
  t.ok(slowest < poison.ms / 2, `the others (slowest ${Math.round(slowest)} ms) did not wait for the poison's hang (${Math.round(poison.ms)} ms)`)
})

t.test('a plugin that exhausts its memory on poison events fails only those, batch after batch', async (t) => {
  // the shape of bench/ledger scenario 7: bursts of 50 events, every 25th a poison
  const { exec } = await pipelineWith(t, OOM_ON_POISON, { timeoutMs: 2000, memoryMb: 16 }, '150ms')
  const outcomes: Promise<EventOutcome>[] = []
  for (let burst = 0; burst < 6; burst++) {
    for (let i = 0; i < 50; i++) {
      const n = burst * 50 + i
      outcomes.push(exec(n, n % 25 === 3))
    }
    await new Promise((r) => setImmediate(r))
  }
  const settled = await Promise.all(outcomes)
  const wrong = settled.flatMap((o, n) => ((o.type === 'done') === (n % 25 === 3) ? [`${n}: ${o.type === 'failed' ? o.error.message : o.type}`] : []))
  t.same(wrong, [], 'exactly the poison events failed')
})

t.test('an additive plugin that crashes on every event holds no event up past its stage timeout', async (t) => {
  const OOM_UNLESS_SPARED = `function stage(input) {
    if (input.event.data.spared === true) return { type: 'continue' }
    const hoard = []
    while (true) hoard.push(new Array(1 << 16).fill(hoard.length))
  }`
  const { exec } = await pipelineWith(t, OOM_UNLESS_SPARED, { timeoutMs: 2000, memoryMb: 16 }, '300ms', true)
  const started = performance.now()
  // 100 crashes one after the other take seconds; the events must not wait for them
  const wave = await Promise.all(Array.from({ length: 100 }, (_, i) => exec(i)))
  const waveMs = performance.now() - started
  t.ok(wave.every((o) => o.type === 'done'), 'an additive failure never blocks its event')
  t.ok(waveMs < 2000, `the wave settled in ${Math.round(waveMs)} ms, bounded by the stage timeout rather than by 100 crashes`)
  // the reruns of the events that timed out are skipped: the next event's call is not queued behind them
  const spared = await exec(1000, false, 1, { spared: true })
  t.match(spared, { type: 'done', outcomes: [{ stage: 'plug', type: 'ran' }] }, 'the next event runs in its turn, within the limit')
})

t.test('the sandbox skips the rerun of an event whose caller stopped waiting for it', async (t) => {
  const { instance } = await pipelineWith(t, OOM_ON_POISON, { timeoutMs: 2000, memoryMb: 16 }, '5s')
  const inputs = Array.from({ length: 10 }, (_, n) => ({ event: testEvent(n, { poison: true }), labels: {}, attempt: 1 }))
  const ran: number[] = []
  // the batch crashes; of its reruns, only those of events still awaited may run
  const outputs = await instance.run(inputs, { running: (i) => ran.push(i), abandoned: (i) => i >= 2 })
  t.same(ran, [0, 1], 'only the events still awaited were run again')
  t.match(outputs.slice(2), Array.from({ length: 8 }, () => ({ type: 'error', kind: 'timeout', message: /stopped waiting/ })))
})

t.test('an additive plugin that fails on every event costs a probe a second, not a crash per event; a passing probe restores reruns', async (t) => {
  const { instance } = await pipelineWith(t, OOM_ON_POISON, { timeoutMs: 2000, memoryMb: 16 }, '5s', true)
  const input = (n: number, poison: boolean) => ({ event: testEvent(n, poison ? { poison: true } : {}), labels: {}, attempt: 1 })
  const ran: number[] = []
  const watch = { running: (i: number) => ran.push(i), bestEffort: true }
  // 40 events that all crash: after 8 crashes of one event in a row the rest are not run alone
  const outputs = await instance.run(Array.from({ length: 40 }, (_, n) => input(n, true)), watch)
  t.equal(ran.length, 8, 'eight events were run again alone, not forty')
  t.ok(outputs.every((o) => o.type === 'error' && o.kind === 'memory'), 'every event has the failure')
  t.match(outputs[39], { message: /not run alone/ })
  // from now on a batch starts with a probe alone: it fails, and no other event runs
  ran.length = 0
  const next = await instance.run(Array.from({ length: 10 }, (_, n) => input(50 + n, true)), watch)
  t.same(ran, [0], 'only the probe ran')
  t.ok(next.slice(1).every((o) => o.type === 'error' && o.kind === 'memory' && /not run alone/.test(o.message)))
  // until the next probe is due (1 s), nothing runs at all
  ran.length = 0
  const between = await instance.run(Array.from({ length: 5 }, (_, n) => input(70 + n, false)), watch)
  t.same(ran, [], 'no call between probes')
  t.ok(between.every((o) => o.type === 'error' && /not run alone/.test(o.message)))
  await new Promise((r) => setTimeout(r, 1000))
  // a batch whose first event passes alone (the probe) is rerun in full: the innocent events get results
  ran.length = 0
  const mixed = await instance.run([input(100, false), input(101, true), input(102, false), input(103, false)], watch)
  t.same(
    mixed.map((o) => o.type),
    ['continue', 'error', 'continue', 'continue'],
    'after a passing probe, every event runs alone again',
  )
  // an approved (not best-effort) caller always gets every event run alone
  const approved = await instance.run(Array.from({ length: 12 }, (_, n) => input(200 + n, true)), { running: () => {} })
  t.ok(approved.every((o) => o.type === 'error' && !/not run alone/.test(o.message)))
})
