// A smoke test of `omni bench --only mesh` in quick mode: a hub, two leaves and a node per leaf
// really run, every event crosses and is processed; timing is never checked.
import t from 'tap'
import { runBench } from '../../bench/run.ts'

t.setTimeout(180_000)

t.test('the mesh scenario reports throughput over the mesh, on B alone, and the added latency', async (t) => {
  const { report } = await runBench({ quick: true, events: 500, only: ['mesh'], json: false })
  t.same(report.failures, [], 'the scenario ran')
  const rows = new Map(report.scenarios.map((r) => [r.id, r]))
  t.same([...rows.keys()], ['mesh', 'mesh.local', 'mesh.floor', 'mesh.servers', 'mesh.exporter', 'mesh.latency', 'mesh.latency.floor'], 'seven rows, the mesh one first')
  for (const id of ['mesh', 'mesh.local', 'mesh.floor', 'mesh.servers', 'mesh.exporter']) {
    const r = rows.get(id)
    t.equal(r?.details['completed'], true, `${id}: every output was stored (${r?.notes})`)
    t.equal(r?.events, 500, `${id}: all 500 events processed once`)
    t.ok((r?.rate ?? 0) > 0, `${id}: ${r?.rate}/s`)
  }
  const mesh = rows.get('mesh')
  t.equal(mesh?.ratioTo, 'mesh.local', 'the mesh rate is compared with the local one of the same run')
  t.ok((mesh?.ratio ?? 0) > 0, `ratio ${mesh?.ratio}`)
  for (const id of ['mesh.floor', 'mesh.servers', 'mesh.exporter']) t.equal(rows.get(id)?.ratioTo, 'mesh.local', `${id} is compared with the local rate of the same run`)
  const lat = rows.get('mesh.latency')
  const d = lat?.details as { addedMs?: { p50: number; p99: number }; meshMs?: { count: number; missing: number }; localMs?: { count: number; missing: number } } | undefined
  t.ok((d?.meshMs?.count ?? 0) > 0 && (d?.localMs?.count ?? 0) > 0, 'latencies were measured on both paths')
  t.equal(d?.meshMs?.missing, 0, 'every event published on A produced an output seen on B')
  t.equal(d?.localMs?.missing, 0, 'and every one published on B')
  t.type(d?.addedMs?.p99, 'number', `added p99 ${d?.addedMs?.p99} ms`)
  const floor = rows.get('mesh.latency.floor')?.details as { floorMs?: { count: number; missing: number }; addedMs?: { p99: number } } | undefined
  t.ok((floor?.floorMs?.count ?? 0) > 0, 'latencies were measured over the floor (one server-side copy)')
  t.equal(floor?.floorMs?.missing, 0, 'every event published into A\'s outbox produced an output seen on B')
  t.type(floor?.addedMs?.p99, 'number', `floor added p99 ${floor?.addedMs?.p99} ms`)
})
