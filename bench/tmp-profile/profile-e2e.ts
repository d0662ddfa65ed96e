// scratch: profiles the bench process only while the single-filter e2e worker runs
import { Session } from 'node:inspector/promises'
import { writeFile } from 'node:fs/promises'
import { runBench } from '../run.ts'
const session = new Session()
session.connect()
await session.post('Profiler.setSamplingInterval', { interval: 200 })
await session.post('Profiler.enable')
let pending: Promise<void> = Promise.resolve()
const target = process.argv[2] ?? 'e2e single-filter: pipeline'
const { report } = await runBench({
  events: Number(process.argv[3] ?? 200000),
  only: ['consume-ceiling', 'pipeline-e2e'],
  json: false,
  log: (l) => console.error(l),
  progress: (label) => {
    if (label !== target) return { increment() {}, update() {}, stop() {} }
    void session.post('Profiler.start')
    return {
      increment() {},
      update() {},
      stop() {
        pending = session.post('Profiler.stop').then(({ profile }) => writeFile('/tmp/e2e.cpuprofile', JSON.stringify(profile)))
      },
    }
  },
})
await pending
for (const r of report.scenarios) console.log(r.id, r.events, r.seconds, r.rate, r.ratio, r.notes)
