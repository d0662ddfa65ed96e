import type { TSchema } from 'typebox'
import type { Envelope } from '../envelope/schema.ts'
import type { DedupStore } from '../jetstream/dedup-store.ts'
import type { PathSegment } from '../yaml/yaml.ts'

/** Where a cartridge belongs in the canonical order (seed 003: trust → dedup → enrich → …). */
export const PHASES = ['trust', 'guard', 'dedup', 'enrich', 'correlate', 'classify', 'route', 'project', 'persist', 'meta'] as const
export type Phase = (typeof PHASES)[number]

/** A message a stage wants published once the event commits (a command, a synthesized event). */
export interface Emission {
  readonly subject: string
  readonly event: Envelope
  /**
   * Set by the host, never by a stage: the additive (alpha/community) stage that emitted it. Such
   * an emission gets an id in a namespace of its own and is published after the approved outputs,
   * so it can neither displace nor suppress one.
   */
  readonly additiveStage?: string
}

/**
 * What a stage decided. `continue` may replace the event's data, set extension attributes and
 * labels, and emit messages; `drop` stops the DAG for this event (it is acknowledged with no
 * outputs, and the reason is recorded). `afterCommit` runs once the outputs are durable and
 * before the source message is acknowledged (dedup markers are written there).
 */
export type StageResult =
  | {
      readonly type: 'continue'
      readonly data?: Record<string, unknown>
      readonly extensions?: Partial<Pick<Envelope, 'tenant' | 'instance' | 'provider' | 'visibility' | 'correlationid' | 'actor' | 'conversation'>>
      readonly labels?: Record<string, unknown>
      readonly emit?: readonly Emission[]
      readonly afterCommit?: () => Promise<void>
    }
  | {
      readonly type: 'drop'
      readonly reason: string
      readonly emit?: readonly Emission[]
      readonly afterCommit?: () => Promise<void>
    }

/** Services a stage may use at run time; all optional so cartridges can run in tests. */
export interface StageServices {
  readonly now: () => number
  readonly dedup?: DedupStore
}

export interface StageContext {
  readonly event: Readonly<Envelope>
  readonly labels: Readonly<Record<string, unknown>>
  readonly pipeline: string
  readonly stage: string
  /**
   * The namespace of the event's keys, from headers only the host writes: `out:<pipeline>` for an
   * output, `client` or `webhook:<provider>:<instance>` for an ingested event. A key a stage keeps
   * (a dedup marker) is kept per origin, so a client cannot imitate another origin's keys.
   */
  readonly origin: string
  /** 1 on first delivery */
  readonly attempt: number
  readonly signal: AbortSignal
  /**
   * The stage's time limit (`timeout:`), which a stage may stop while its event only waits its
   * turn: a sandboxed plugin's call queued behind other events' calls, or behind a sandbox
   * restart, is no work of this event. Absent where no limit applies (output transforms).
   */
  readonly clock?: StageClock
  readonly services: StageServices
}

/** Stops and restarts a stage's time limit; both are idempotent. */
export interface StageClock {
  /** from now on, time does not count against the limit */
  pause(): void
  /** time counts again, from what was left */
  resume(): void
}

export type StageFn = (ctx: StageContext) => StageResult | Promise<StageResult>

/** A compiled CEL expression: evaluates over `{ event, data, labels }`. */
export type CelProgram = (vars: CelVars) => unknown
export interface CelVars {
  readonly event: Readonly<Envelope>
  readonly data: Readonly<Record<string, unknown>>
  readonly labels: Readonly<Record<string, unknown>>
}

/** Thrown by `create` for a bad configuration value; `path` is relative to the stage's `with`. */
export class ConfigProblem extends Error {
  readonly path: readonly PathSegment[]
  constructor(path: readonly PathSegment[], message: string) {
    super(message)
    this.name = 'ConfigProblem'
    this.path = path
  }
}

/** What a cartridge gets when a stage is built from it. */
export interface CartridgeEnv {
  readonly pipeline: string
  readonly stage: string
  /** Compiles a CEL expression found at `path` under `with`; throws ConfigProblem if it is bad. */
  cel(expression: string, path: readonly PathSegment[]): CelProgram
}

/** A trusted built-in stage type: an id, a description, a config schema and a factory. */
export interface Cartridge<C = unknown> {
  readonly id: string
  readonly title: string
  readonly description: string
  readonly phase: Phase
  readonly configSchema: TSchema
  /** Builds the stage function from a configuration that already passed `configSchema`. */
  create(config: C, env: CartridgeEnv): StageFn
  /**
   * The subjects a stage built from `config` may publish to (commands, quarantines, bursts), so
   * validation can find loops through them; a cartridge that emits nothing leaves it out.
   */
  emitsTo?(config: C): readonly string[]
  /** set for signed plugins: how the pipeline schedules the stage (built-ins have none) */
  readonly plugin?: PluginScheduling
}

/** How a plugin's stage is scheduled, from its signed manifest. */
export interface PluginScheduling {
  /** alpha and community tiers: run after the approved stages of their level, never blocking */
  readonly additive: boolean
  /** returns why the plugin does not run for this event (its tenant audience), if so */
  readonly admits: (event: Envelope) => string | undefined
}
