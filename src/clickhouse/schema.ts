// The versioned schema. A migration's SQL may never change once released: its checksum is kept
// in omni_schema_migrations and a changed one stops the start. `{db}` is the database and
// `{ttl:events}` / `{ttl:raw}` the retention the user set, which are reconciled on every start
// rather than frozen into a version (see migrations.ts).

export interface Migration {
  readonly version: number
  readonly name: string
  readonly sql: string
  /**
   * Skip the statement when this table exists: for statements that cannot say IF NOT EXISTS
   * (a rename), whose work another process, or a run that died before its bookkeeping, did.
   */
  readonly unlessTableExists?: string
  /**
   * Skip the statement when this table has this column: for the steps of a rebuild that another
   * process (or an earlier run) already finished, which must not run again over the new table.
   */
  readonly unlessColumnExists?: { readonly table: string; readonly column: string }
  /** Skip the statement when this column already has this type: for a rebuild that changes a column's type. */
  readonly unlessColumnType?: { readonly table: string; readonly column: string; readonly type: string }
}

/** Row-level TTL on the time a row was recorded: a backfilled old event is still kept. */
export const TTL_COLUMNS = {
  omni_events: { column: 'recorded_at', retention: 'events' },
  omni_stage_outcomes: { column: 'recorded_at', retention: 'events' },
  omni_raw_payloads: { column: 'received_at', retention: 'raw' },
} as const

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'omni_events: every event in the stream, one row per (tenant, idempotency key, subject)',
    // ReplacingMergeTree on the event's identity: a redelivered or re-recorded event collapses
    // into one row (queries read with FINAL). Outputs share their source's key but not its subject.
    sql: `CREATE TABLE IF NOT EXISTS {db}.omni_events
(
    event_id String,
    type LowCardinality(String),
    source String,
    subject LowCardinality(String),
    time DateTime64(3, 'UTC'),
    tenant LowCardinality(String),
    instance LowCardinality(String),
    provider LowCardinality(String),
    visibility LowCardinality(String),
    actor String,
    conversation String,
    correlation_id String,
    causation_id String,
    idempotency_key String,
    stream_seq UInt64,
    emitted_by LowCardinality(String),
    pipelines Array(LowCardinality(String)),
    payload JSON,
    provider_meta JSON,
    dataref String,
    recorded_at DateTime64(3, 'UTC'),
    INDEX idx_time time TYPE minmax GRANULARITY 1,
    INDEX idx_type type TYPE set(512) GRANULARITY 4,
    INDEX idx_instance instance TYPE set(512) GRANULARITY 4,
    INDEX idx_actor actor TYPE bloom_filter GRANULARITY 4,
    INDEX idx_conversation conversation TYPE bloom_filter GRANULARITY 4
)
ENGINE = ReplacingMergeTree(recorded_at)
ORDER BY (tenant, idempotency_key, subject)
TTL toDateTime(recorded_at) + INTERVAL {ttl:events} DAY`,
  },
  {
    version: 2,
    // renamed to omni_stage_outcomes by migration 4; released SQL never changes
    name: 'omni_event_actions: one row per stage outcome, per pipeline and stream message',
    // keyed on the stream sequence, not the idempotency key: a late duplicate that guard.dedup
    // drops is its own message with its own outcomes, and must not overwrite the original's
    sql: `CREATE TABLE IF NOT EXISTS {db}.omni_event_actions
(
    event_id String,
    idempotency_key String,
    type LowCardinality(String),
    tenant LowCardinality(String),
    pipeline LowCardinality(String),
    stage LowCardinality(String),
    uses LowCardinality(String),
    digest String,
    status Enum8('ok' = 1, 'skipped' = 2, 'dropped' = 3, 'failed' = 4, 'dead-lettered' = 5),
    duration_ms Float64,
    error String,
    attempt UInt16,
    stream_seq UInt64,
    recorded_at DateTime64(3, 'UTC'),
    INDEX idx_event event_id TYPE bloom_filter GRANULARITY 4
)
ENGINE = ReplacingMergeTree(attempt)
ORDER BY (pipeline, stream_seq, stage)
TTL toDateTime(recorded_at) + INTERVAL {ttl:events} DAY`,
  },
  {
    version: 3,
    name: 'omni_raw_payloads: the raw provider payload archive',
    sql: `CREATE TABLE IF NOT EXISTS {db}.omni_raw_payloads
(
    raw_id String,
    received_at DateTime64(3, 'UTC'),
    provider LowCardinality(String),
    instance LowCardinality(String),
    tenant LowCardinality(String),
    content_type LowCardinality(String),
    headers Map(String, String),
    body String,
    sha256 FixedString(64),
    size UInt32
)
ENGINE = ReplacingMergeTree
ORDER BY raw_id
TTL toDateTime(received_at) + INTERVAL {ttl:raw} DAY`,
  },
  {
    version: 4,
    name: 'omni_event_actions becomes omni_stage_outcomes: "outcome" is the one name for what a stage did',
    // A rename keeps the rows, the engine and the TTL (reconciled by name after the migrations).
    // IF EXISTS and the guard make it safe to repeat: after a run that died before recording it,
    // or beside another process migrating the same database at once (whose migration 2 may
    // create an empty omni_event_actions again after the rename: left alone, nothing writes it).
    sql: 'RENAME TABLE IF EXISTS {db}.omni_event_actions TO {db}.omni_stage_outcomes',
    unlessTableExists: 'omni_stage_outcomes',
  },
  // Migrations 5–9 rebuild omni_events so it keeps the FIRST copy of an event. Version 1's
  // ReplacingMergeTree(recorded_at) kept the last one: a late duplicate (same key, stored again
  // after the stream's duplicate window, then dropped by guard.dedup) replaced the original's
  // payload, event_id and dataref. ClickHouse cannot change a table's engine, so a new table is
  // made, filled, and swapped in by renames; each step is safe to repeat.
  {
    version: 5,
    name: 'omni_events_v2: omni_events keeping the first copy of an event (the lowest stream sequence) per way in (origin)',
    // ReplacingMergeTree keeps the highest version, so the version falls as the sequence rises.
    // `origin` is how the event came in (`client`, `webhook:<provider>:<instance>`; an output
    // names its source's): in the sorting key, so a client's event that reuses a webhook
    // message's key is a row of its own, and never the kept copy of the real message. Rows of
    // release 4 predate origins and become `client` (the DEFAULT) when migration 6 copies them.
    sql: `CREATE TABLE IF NOT EXISTS {db}.omni_events_v2
(
    event_id String,
    type LowCardinality(String),
    source String,
    subject LowCardinality(String),
    time DateTime64(3, 'UTC'),
    tenant LowCardinality(String),
    instance LowCardinality(String),
    provider LowCardinality(String),
    visibility LowCardinality(String),
    actor String,
    conversation String,
    correlation_id String,
    causation_id String,
    idempotency_key String,
    stream_seq UInt64,
    emitted_by LowCardinality(String),
    pipelines Array(LowCardinality(String)),
    payload JSON,
    provider_meta JSON,
    dataref String,
    recorded_at DateTime64(3, 'UTC'),
    first_rank UInt64 MATERIALIZED 18446744073709551615 - stream_seq,
    origin LowCardinality(String) DEFAULT 'client',
    INDEX idx_time time TYPE minmax GRANULARITY 1,
    INDEX idx_type type TYPE set(512) GRANULARITY 4,
    INDEX idx_instance instance TYPE set(512) GRANULARITY 4,
    INDEX idx_actor actor TYPE bloom_filter GRANULARITY 4,
    INDEX idx_conversation conversation TYPE bloom_filter GRANULARITY 4
)
ENGINE = ReplacingMergeTree(first_rank)
ORDER BY (tenant, idempotency_key, subject, origin)
TTL toDateTime(recorded_at) + INTERVAL {ttl:events} DAY`,
    unlessColumnExists: { table: 'omni_events', column: 'origin' },
  },
  {
    version: 6,
    name: 'omni_events_v2 gets the rows of omni_events (a repeat copies rows that collapse into the same ones)',
    sql: `INSERT INTO {db}.omni_events_v2 (event_id, type, source, subject, time, tenant, instance, provider, visibility, actor, conversation, correlation_id, causation_id, idempotency_key, stream_seq, emitted_by, pipelines, payload, provider_meta, dataref, recorded_at)
SELECT event_id, type, source, subject, time, tenant, instance, provider, visibility, actor, conversation, correlation_id, causation_id, idempotency_key, stream_seq, emitted_by, pipelines, payload, provider_meta, dataref, recorded_at
FROM {db}.omni_events`,
    unlessTableExists: 'omni_events_v1',
    unlessColumnExists: { table: 'omni_events', column: 'origin' },
  },
  {
    version: 7,
    name: 'the old omni_events steps aside as omni_events_v1',
    sql: 'RENAME TABLE IF EXISTS {db}.omni_events TO {db}.omni_events_v1',
    unlessTableExists: 'omni_events_v1',
    unlessColumnExists: { table: 'omni_events', column: 'origin' },
  },
  {
    version: 8,
    name: 'omni_events_v2 becomes omni_events',
    sql: 'RENAME TABLE IF EXISTS {db}.omni_events_v2 TO {db}.omni_events',
    unlessTableExists: 'omni_events',
  },
  {
    version: 9,
    name: 'the old omni_events (omni_events_v1) is dropped once its rows live on in omni_events',
    sql: 'DROP TABLE IF EXISTS {db}.omni_events_v1',
  },
  {
    version: 10,
    name: 'omni_stage_outcomes.labels: the labels each stage set (trust, class, tags, …), as JSON text; and the origin of the event',
    // text rather than JSON: labels are small, and queries read them with JSONExtract* (see query.ts).
    // `origin` is the event's as omni_events names it, so a label set on a client's event never
    // finds a webhook message with the same key (rows from before it are `client`, as there).
    sql: "ALTER TABLE {db}.omni_stage_outcomes ADD COLUMN IF NOT EXISTS labels String DEFAULT '{}', ADD COLUMN IF NOT EXISTS origin LowCardinality(String) DEFAULT 'client'",
  },
  {
    version: 11,
    name: 'omni_events.origin_node: the mesh node an event was received from (the envelope origin attribute), empty for events of this node',
    // apart from `origin` (the way in, the key namespace): a received event's way in is
    // `mesh:<node>`, and this column keeps the envelope's own attribute for queries
    sql: "ALTER TABLE {db}.omni_events ADD COLUMN IF NOT EXISTS origin_node LowCardinality(String) DEFAULT ''",
  },
  // Migrations 12–16 rebuild omni_events with String payload columns (issue 15's experiment,
  // docs/clickhouse.md: inserts go faster, and text search becomes a substring search of the
  // column instead of a scan of toString(JSON); no query filters on a field inside a payload).
  // A rebuild, not ALTER … MODIFY COLUMN: the in-place conversion runs as a background mutation
  // in the server's default settings, and servers before 25.8 quote 64-bit integers there, which
  // would turn every number of every old payload into a string. The copy below pins the output
  // settings in the query itself, and is done when the statement returns. Each step is safe to
  // repeat, as in 5–9; none of them runs once omni_events.payload is already String.
  {
    version: 12,
    name: 'omni_events_v3: omni_events with payload and provider_meta as String (each payload kept as its JSON text)',
    sql: `CREATE TABLE IF NOT EXISTS {db}.omni_events_v3
(
    event_id String,
    type LowCardinality(String),
    source String,
    subject LowCardinality(String),
    time DateTime64(3, 'UTC'),
    tenant LowCardinality(String),
    instance LowCardinality(String),
    provider LowCardinality(String),
    visibility LowCardinality(String),
    actor String,
    conversation String,
    correlation_id String,
    causation_id String,
    idempotency_key String,
    stream_seq UInt64,
    emitted_by LowCardinality(String),
    pipelines Array(LowCardinality(String)),
    payload String,
    provider_meta String,
    dataref String,
    recorded_at DateTime64(3, 'UTC'),
    first_rank UInt64 MATERIALIZED 18446744073709551615 - stream_seq,
    origin LowCardinality(String) DEFAULT 'client',
    origin_node LowCardinality(String) DEFAULT '',
    INDEX idx_time time TYPE minmax GRANULARITY 1,
    INDEX idx_type type TYPE set(512) GRANULARITY 4,
    INDEX idx_instance instance TYPE set(512) GRANULARITY 4,
    INDEX idx_actor actor TYPE bloom_filter GRANULARITY 4,
    INDEX idx_conversation conversation TYPE bloom_filter GRANULARITY 4
)
ENGINE = ReplacingMergeTree(first_rank)
ORDER BY (tenant, idempotency_key, subject, origin)
TTL toDateTime(recorded_at) + INTERVAL {ttl:events} DAY`,
    unlessColumnType: { table: 'omni_events', column: 'payload', type: 'String' },
  },
  {
    version: 13,
    name: 'omni_events_v3 gets the rows of omni_events, each payload as its JSON text (a repeat copies rows that collapse into the same ones)',
    // the settings fix the text whatever the server's defaults: numbers stay numbers, and `/`
    // stays `/` as JSON.stringify writes it in new rows
    sql: `INSERT INTO {db}.omni_events_v3 (event_id, type, source, subject, time, tenant, instance, provider, visibility, actor, conversation, correlation_id, causation_id, idempotency_key, stream_seq, emitted_by, pipelines, payload, provider_meta, dataref, recorded_at, origin, origin_node)
SELECT event_id, type, source, subject, time, tenant, instance, provider, visibility, actor, conversation, correlation_id, causation_id, idempotency_key, stream_seq, emitted_by, pipelines, toString(payload), toString(provider_meta), dataref, recorded_at, origin, origin_node
FROM {db}.omni_events
SETTINGS output_format_json_quote_64bit_integers = 0, output_format_json_quote_64bit_floats = 0, output_format_json_quote_decimals = 0, output_format_json_quote_denormals = 0, output_format_json_escape_forward_slashes = 0`,
    unlessTableExists: 'omni_events_json',
    unlessColumnType: { table: 'omni_events', column: 'payload', type: 'String' },
  },
  {
    version: 14,
    name: 'the omni_events with JSON payloads steps aside as omni_events_json',
    sql: 'RENAME TABLE IF EXISTS {db}.omni_events TO {db}.omni_events_json',
    unlessTableExists: 'omni_events_json',
    unlessColumnType: { table: 'omni_events', column: 'payload', type: 'String' },
  },
  {
    version: 15,
    name: 'omni_events_v3 becomes omni_events',
    sql: 'RENAME TABLE IF EXISTS {db}.omni_events_v3 TO {db}.omni_events',
    unlessTableExists: 'omni_events',
  },
  {
    version: 16,
    name: 'the old omni_events (omni_events_json) is dropped once its rows live on in omni_events',
    sql: 'DROP TABLE IF EXISTS {db}.omni_events_json',
  },
]

/** The bookkeeping table itself is created before any migration runs. */
export const MIGRATIONS_TABLE_SQL = `CREATE TABLE IF NOT EXISTS {db}.omni_schema_migrations
(
    version UInt32,
    name String,
    checksum String,
    applied_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(applied_at)
ORDER BY version`
