/**
 * The layers of src/, lowest first. A folder may import only folders at or below it, and
 * type-only imports count: a contract belongs to the lower layer, which the higher one
 * implements or calls. cmd/ sits above every layer; test/ and bench/ may import anything.
 * scripts/check-layers.ts enforces the order in `make test`; a new folder must be added here.
 */
export const LAYERS = [
  'util', // small pure helpers: durations, atomic writes, schema error text
  'errors', // the error registry: stable OMNI_ERR_* codes
  'rootfs', // container images without a registry: rootfs tarballs, ldd, docker import
  'wire', // what a message looks like on NATS: subjects, headers, message ids
  'envelope', // the event envelope: schema, validation, derived ids
  'observability', // the logger and the Prometheus metrics
  'yaml', // YAML with positions, and schema checks that point at a line
  'server', // the local nats-server: binary, options, process
  'image', // the platform's own container image: its recipe, build and saved archive
  'jetstream', // connection, streams, publisher, consumers, dead letters, dedup store
  'sandbox', // where plugin code runs: in process, isolate, container
  'pipeline', // the stage contract, pipeline specs, compiler, executor and worker
  'cartridges', // the built-in stages
  'catalog', // the event catalog: types, schemas, fan-out
  'webhooks', // provider adapters that turn webhook bodies into events
  'plugins', // signed plugin bundles: manifests, trust, approvals, registry
  'clickhouse', // the ClickHouse sink: recorders, writers, queries
  'ingest', // validating and publishing events, archiving raw payloads
  'mesh', // nodes joined through NATS leaf nodes: permissions, outboxes, inboxes, presence
  'manifests', // loading catalogs, pipelines and webhook sources from a folder
  'node', // the composition root: starts a node and offers its services
  'api', // the HTTP API
] as const

export type Layer = (typeof LAYERS)[number]

/** One file importing another against the order, allowed for a while, with the reason. */
export interface AllowedImport {
  readonly from: string
  readonly to: string
  readonly why: string
}

/**
 * Imports against the order allowed for a while (none now), for a change that lands in steps.
 * Each entry names one file-to-file import, so any other upward import still fails, and the
 * check fails once an entry matches nothing, so none outlives its reason.
 */
export const TEMPORARY_ALLOWED_IMPORTS: readonly AllowedImport[] = []
