import t from 'tap'
import { buildApi } from '../../src/api/server.ts'
import { silentLogger } from '../../src/observability/logger.ts'
import { collectProcessMetrics } from '../../src/observability/process-metrics.ts'
import { bearer, startTestApi } from '../fixtures/api.ts'

// prom-client's default collectors on a real node's /metrics (a real nats-server behind it)

/** The sample lines of a family (its name, or name_suffix with labels), as label text → value. */
function samples(body: string, name: string): Map<string, number> {
  const found = new Map<string, number>()
  for (const m of body.matchAll(new RegExp(`^${name}(\\{[^}]*\\})? (\\S+)$`, 'gm'))) found.set(m[1] ?? '', Number(m[2]))
  return found
}

/** Garbage enough for a few minor collections, in a bounded loop; the GC observer reports them asynchronously. */
async function makeGarbage(): Promise<void> {
  let keep = 0
  for (let i = 0; i < 200_000; i++) keep += new Array(16).fill(i).length
  await new Promise((r) => setTimeout(r, 20))
  if (keep === 0) throw new Error('unreachable: keeps the loop from being optimized away')
}

t.test('a node serves the process metrics beside its own: CPU, heap, event-loop lag, GC, handles', async (t) => {
  const api = await startTestApi(t)
  const scrape = async () => {
    const r = await api.app.inject({ url: '/metrics', headers: bearer('read') })
    t.equal(r.statusCode, 200)
    return r.body
  }
  let body = await scrape()
  // a minor GC after the collectors started is needed for the GC histogram to count one
  for (let i = 0; i < 20 && !(samples(body, 'nodejs_gc_duration_seconds_count').size > 0); i++) {
    await makeGarbage()
    body = await scrape()
  }
  const cpu = samples(body, 'process_cpu_user_seconds_total').get('')
  t.ok(cpu !== undefined && cpu > 0, `process_cpu_user_seconds_total ${cpu}`)
  t.ok((samples(body, 'process_cpu_seconds_total').get('') ?? 0) >= (cpu ?? 0), 'process_cpu_seconds_total counts user and system time')
  t.ok((samples(body, 'process_resident_memory_bytes').get('') ?? 0) > 0, 'process_resident_memory_bytes')
  const heapUsed = samples(body, 'nodejs_heap_size_used_bytes').get('') ?? 0
  const heapTotal = samples(body, 'nodejs_heap_size_total_bytes').get('') ?? 0
  t.ok(heapUsed > 0 && heapTotal >= heapUsed, `nodejs_heap_size_used_bytes ${heapUsed} of ${heapTotal}`)
  const lag = samples(body, 'nodejs_eventloop_lag_seconds').get('')
  t.ok(lag !== undefined && lag >= 0 && Number.isFinite(lag), `nodejs_eventloop_lag_seconds ${lag}`)
  t.ok((samples(body, 'nodejs_eventloop_lag_p99_seconds').get('') ?? 0) > 0, 'the lag percentiles are measured')
  const gc = [...samples(body, 'nodejs_gc_duration_seconds_count')]
  t.ok(gc.length > 0 && gc.every(([labels]) => /kind="\w+"/.test(labels)), `GC durations by kind: ${gc.map(([l, v]) => `${l} ${v}`).join(', ')}`)
  t.ok(gc.some(([, v]) => v > 0), 'at least one collection counted')
  const handles = samples(body, 'nodejs_active_handles_total').get('') ?? 0
  t.ok(handles > 0, `nodejs_active_handles_total ${handles} (the NATS socket at least)`)
  t.ok(samples(body, 'nodejs_active_handles').size > 0, 'open handles by type')
  t.match(body, /^omni_consumer_lag\{pipeline="notes",kind="pending"\} 0$/m, 'the Omni families are still there')
})

t.test('a second API in the process, and a direct call, neither throw nor duplicate a family', async (t) => {
  const api = await startTestApi(t)
  const second = await buildApi(api.fabric.node, api.config, silentLogger())
  t.teardown(() => second.close())
  await second.ready()
  t.doesNotThrow(() => collectProcessMetrics(), 'registered once per process')
  const body = (await second.inject({ url: '/metrics', headers: bearer('read') })).body
  for (const family of ['process_cpu_user_seconds_total', 'nodejs_heap_size_used_bytes', 'nodejs_eventloop_lag_seconds', 'nodejs_gc_duration_seconds', 'nodejs_active_handles_total']) {
    t.equal(body.match(new RegExp(`^# TYPE ${family} `, 'gm'))?.length, 1, `${family} appears once`)
  }
})
