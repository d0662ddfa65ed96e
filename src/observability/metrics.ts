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

/**
 * What the mesh reports (src/mesh): events and bytes crossing to and from peers by visibility,
 * and received events refused, by why. Peer state and per-source lag are gauges read on scrape.
 */
export const meshMetrics = {
  events: new Counter({ name: 'omni_mesh_events_total', help: 'Events sent to (out) or admitted from (in) the mesh, by visibility', labelNames: ['direction', 'visibility'], registers: [metricsRegistry] }),
  bytes: new Counter({ name: 'omni_mesh_bytes_total', help: 'Bytes of events sent to (out) or admitted from (in) the mesh, by visibility', labelNames: ['direction', 'visibility'], registers: [metricsRegistry] }),
  refused: new Counter({
    name: 'omni_mesh_refused_total',
    help: 'Received events refused, by peer and reason (forged-origin, visibility, catalog, quarantine, reject, too-large)',
    labelNames: ['peer', 'reason'],
    registers: [metricsRegistry],
  }),
  inboxResets: new Counter({ name: 'omni_mesh_inbox_resets_total', help: "Inboxes recreated because the peer's outbox was new (a wiped store), by peer", labelNames: ['peer'], registers: [metricsRegistry] }),
}

/** What pipeline workers report, fed from every settled event (see recordSettled). */
export const pipelineMetrics = {
  events: new Counter({ name: 'omni_pipeline_events_total', help: 'Events a pipeline settled, by outcome (done, dropped, retry, dead-lettered)', labelNames: ['pipeline', 'outcome'], registers: [metricsRegistry] }),
  stages: new Counter({ name: 'omni_stage_runs_total', help: 'Stage runs by status (ran, skipped, dropped, failed)', labelNames: ['pipeline', 'stage', 'status'], registers: [metricsRegistry] }),
  stageErrors: new Counter({ name: 'omni_stage_errors_total', help: 'Stage failures that led to a retry or a dead letter', labelNames: ['pipeline', 'stage'], registers: [metricsRegistry] }),
  stageSeconds: new Histogram({
    name: 'omni_stage_seconds',
    help: 'Time a stage took for one event',
    labelNames: ['pipeline', 'stage'],
    buckets: [0.00005, 0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
    registers: [metricsRegistry],
  }),
  deadLetters: new Counter({ name: 'omni_dead_letters_total', help: 'Events a pipeline sent to the dead letters', labelNames: ['pipeline'], registers: [metricsRegistry] }),
}
