/**
 * The subject grammar, written once. Events go to `omni.evt.{producer}.{event}.v{n}` and
 * commands to `omni.cmd.{target}.{command}.v{n}`; beside them live the redrive, dead-letter and
 * raw archive subjects. Streams, consumers, schemas and routes all take their subjects from here.
 */

import { RECEIVED_SUBJECT_PREFIX } from './mesh.ts'

/** A concrete event or command subject: `omni.{evt|cmd}.{producer}.{event}.v{n}`. */
export const SUBJECT_PATTERN = '^omni\\.(evt|cmd)\\.[a-z0-9_-]+\\.[a-z0-9_-]+\\.v[0-9]+$'
export const SUBJECT_RE = new RegExp(SUBJECT_PATTERN)
/** A concrete event subject: `omni.evt.{producer}.{event}.v{n}`. */
export const EVENT_SUBJECT_PATTERN = '^omni\\.evt\\.[a-z0-9_-]+\\.[a-z0-9_-]+\\.v[0-9]+$'
/** A concrete command subject: `omni.cmd.{target}.{command}.v{n}`. */
export const COMMAND_SUBJECT_PATTERN = '^omni\\.cmd\\.[a-z0-9_-]+\\.[a-z0-9_-]+\\.v[0-9]+$'
/** What a pipeline may consume: any `omni.…` subject or wildcard filter. */
export const SOURCE_PATTERN = '^omni(\\.[a-z0-9_*>-]+)+$'
/** A filter a live reader may give: under `omni.evt` or `omni.cmd`, with `*` tokens and a final `>`. */
export const LIVE_FILTER_RE = /^omni\.(evt|cmd)(\.[A-Za-z0-9_-]+|\.\*)*(\.>)?$/

/** Every event and command, and nothing else (not the redrive copies). */
export const LIVE_SUBJECTS = ['omni.evt.>', 'omni.cmd.>'] as const
export const REDRIVE_SUBJECT_PREFIX = 'omni.redrive'
/** What the events stream captures: events, commands and redriven events. */
/** Events received from other mesh nodes and admitted (src/wire/mesh.ts). */
export const RECEIVED_SUBJECTS = `${RECEIVED_SUBJECT_PREFIX}.>`
export const EVENT_SUBJECTS = [...LIVE_SUBJECTS, `${REDRIVE_SUBJECT_PREFIX}.>`, RECEIVED_SUBJECTS] as const
export const DLQ_SUBJECT_PREFIX = 'omni.dlq'
/** Webhook bodies exactly as they arrived, before normalization: `omni.raw.<provider>.<instance>`. */
export const RAW_SUBJECT_PREFIX = 'omni.raw'

/** The parts of a concrete subject. */
export interface SubjectParts {
  readonly kind: 'evt' | 'cmd'
  /** the producer of an event, the target of a command */
  readonly producer: string
  /** the event (or command) token: a dotted type with its dots as dashes */
  readonly event: string
  readonly version: number
}

/** Builds a subject from its parts; the parts are not checked (see SUBJECT_RE). */
export function formatSubject(p: SubjectParts): string {
  return `omni.${p.kind}.${p.producer}.${p.event}.v${p.version}`
}

/** Reads a concrete subject back into its parts; undefined when it breaks the grammar. */
export function parseSubject(subject: string): SubjectParts | undefined {
  if (!SUBJECT_RE.test(subject)) return undefined
  const [, kind, producer, event, version] = subject.split('.') as [string, 'evt' | 'cmd', string, string, string]
  return { kind, producer, event, version: Number(version.slice(1)) }
}

/** `message.received` v1 from `ingest` → `omni.evt.ingest.message-received.v1` */
export function eventSubject(producer: string, type: string, version: number): string {
  return formatSubject({ kind: 'evt', producer, event: type.replace(/\./g, '-'), version })
}

/** Each pipeline's dead letters go to their own subject, so list/redrive can filter by it. */
export const dlqSubject = (pipeline: string) => `${DLQ_SUBJECT_PREFIX}.${pipeline}`
/** Redriven events go to a subject only their own pipeline consumes. */
export const redriveSubject = (pipeline: string) => `${REDRIVE_SUBJECT_PREFIX}.${pipeline}`

/** Anything but letters, digits, `_` and `-` would split or wildcard a subject token. */
const UNSAFE = /[^A-Za-z0-9_-]/g
const token = (s: string) => (s === '' ? '_' : s.replace(UNSAFE, '_'))

/** The subject a provider instance's raw payloads go to; the archived row keeps the real names. */
export const rawSubject = (provider: string, instance: string) => `${RAW_SUBJECT_PREFIX}.${token(provider)}.${token(instance)}`

/**
 * True when some subject could match both NATS subject patterns (`*` one token, `>` the rest),
 * e.g. `omni.evt.>` and `omni.evt.ingest.x.v1`.
 */
export function subjectsOverlap(a: string, b: string): boolean {
  const ta = a.split('.')
  const tb = b.split('.')
  for (let i = 0; ; i++) {
    const x = ta[i]
    const y = tb[i]
    if (x === '>' || y === '>') return x !== undefined && y !== undefined
    if (x === undefined || y === undefined) return x === y
    if (x !== '*' && y !== '*' && x !== y) return false
  }
}
