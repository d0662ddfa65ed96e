import { Gauge } from 'prom-client'
import { consumerName, DLQ_STREAM, EVENTS_STREAM, RAW_STREAM } from '../jetstream/topology.ts'
import { metricsRegistry } from '../observability/metrics.ts'
import type { JetStreamManager } from '@nats-io/jetstream'
import type { CompiledPipeline } from '../pipeline/compile.ts'

/**
 * The gauges of every node started in this process and not closed yet, newest last. The registry is
 * process-wide and a name holds one metric: the newest node's gauges are the registered ones, and
 * closing it brings back those of the node before it.
 */
const owners: Owned[] = []

/** prom-client's types do not show a metric's name, so it is kept beside it. */
export type Owned = readonly { readonly name: string; readonly gauge: Gauge }[]

function install(gauges: Owned): void {
  for (const { name, gauge } of gauges) {
    metricsRegistry.removeSingleMetric(name)
    metricsRegistry.registerMetric(gauge)
  }
}

/**
 * Gauges read from JetStream when Prometheus scrapes, so they cost nothing between scrapes:
 * consumer lag (events not yet delivered plus delivered and unacknowledged) and dead letters.
 * Returns what removes them again (only them: another node's gauges stay).
 */
export function registerStreamGauges(jsm: JetStreamManager, pipelines: () => readonly CompiledPipeline[]): () => void {
  const lag = new Gauge({
    name: 'omni_consumer_lag',
    help: 'Events waiting for a pipeline: not yet delivered (pending) plus delivered and unacknowledged (ack_pending)',
    labelNames: ['pipeline', 'kind'],
    registers: [],
    async collect() {
      this.reset()
      await Promise.all(
        pipelines().map(async (p) => {
          const info = await jsm.consumers.info(EVENTS_STREAM, consumerName(p.name)).catch(() => undefined)
          if (!info) return
          this.set({ pipeline: p.name, kind: 'pending' }, info.num_pending)
          this.set({ pipeline: p.name, kind: 'ack_pending' }, info.num_ack_pending)
        }),
      )
    },
  })
  const deadLetters = new Gauge({
    name: 'omni_dead_letters_stored',
    help: 'Dead letters waiting in the DLQ stream for inspection or redrive',
    registers: [],
    async collect() {
      const info = await jsm.streams.info(DLQ_STREAM).catch(() => undefined)
      this.set(info?.state.messages ?? 0)
    },
  })
  // a stream at its limit refuses ingest (507): an alert on stored / limit sees it coming
  const streamBytes = new Gauge({
    name: 'omni_stream_bytes',
    help: 'Bytes a stream holds (kind=stored) and its byte limit (kind=limit, absent when it has none); at the limit ingest is refused with 507',
    labelNames: ['stream', 'kind'],
    registers: [],
    async collect() {
      this.reset()
      await Promise.all(
        [EVENTS_STREAM, RAW_STREAM, DLQ_STREAM].map(async (stream) => {
          const info = await jsm.streams.info(stream).catch(() => undefined)
          if (!info) return
          this.set({ stream, kind: 'stored' }, info.state.bytes)
          if (info.config.max_bytes > 0) this.set({ stream, kind: 'limit' }, info.config.max_bytes)
        }),
      )
    },
  })
  return ownGauges([
    { name: 'omni_consumer_lag', gauge: lag as Gauge },
    { name: 'omni_dead_letters_stored', gauge: deadLetters },
    { name: 'omni_stream_bytes', gauge: streamBytes as Gauge },
  ])
}

/**
 * Registers one node's gauges (read on scrape, made with `registers: []`) in place of those of
 * the same names; returns what removes them again and brings back the previous node's.
 */
export function ownGauges(mine: Owned): () => void {
  owners.push(mine)
  install(mine)
  return () => {
    const at = owners.indexOf(mine)
    if (at < 0) return
    owners.splice(at, 1)
    // name by name: the sets of several kinds (stream, mesh) share the list
    for (const { name, gauge } of mine) {
      if (metricsRegistry.getSingleMetric(name) !== gauge) continue
      metricsRegistry.removeSingleMetric(name)
      const previous = owners.findLast((set) => set.some((g) => g.name === name))?.find((g) => g.name === name)
      if (previous) metricsRegistry.registerMetric(previous.gauge)
    }
  }
}
