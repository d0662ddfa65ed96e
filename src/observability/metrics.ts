import { Counter, Gauge, Histogram, Registry } from 'prom-client'

/** The process's Prometheus registry; the HTTP API serves it at /metrics. */
export const metricsRegistry = new Registry()

/** What the ClickHouse writers report, per table (`omni.omni_events`, …). */
export const clickHouseMetrics = {
  rowsWritten: new Counter({ name: 'omni_clickhouse_rows_written_total', help: 'Rows inserted into ClickHouse', labelNames: ['table'], registers: [metricsRegistry] }),
  insertFailures: new Counter({
    name: 'omni_clickhouse_insert_failures_total',
    help: 'Failed ClickHouse inserts: transient ones are retried, rejected rows are dead-lettered',
    labelNames: ['table', 'kind'],
    registers: [metricsRegistry],
  }),
  unavailable: new Gauge({ name: 'omni_clickhouse_unavailable', help: '1 while inserts into the table fail and events wait unacknowledged', labelNames: ['table'], registers: [metricsRegistry] }),
  insertSeconds: new Histogram({
    name: 'omni_clickhouse_insert_seconds',
    help: 'Duration of successful ClickHouse inserts',
    labelNames: ['table'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [metricsRegistry],
  }),
}
