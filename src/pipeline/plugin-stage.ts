import Type from 'typebox'
import type { Cartridge, StageClock, StageContext, StageFn, StageResult } from './stage.ts'
import type { Envelope } from '../envelope/schema.ts'
import { SUBJECT_RE, subjectsOverlap } from '../wire/mod.ts'
import { isOmniError, omniError } from '../errors/mod.ts'
import type { PluginInput, PluginInstance, PluginOutput } from '../sandbox/types.ts'

export interface PluginStageOptions {
  /** the plugin's id, for error messages */
  readonly plugin: string
  /** the subject patterns its approved capabilities allow it to publish to */
  readonly emit: readonly string[]
  /** the plugin loaded in its sandbox (started before the pipeline's worker) */
  readonly instance: () => Promise<PluginInstance>
  /** the most events handed over in one call (default 256) */
  readonly maxBatch?: number
  /**
   * An additive (alpha/community) stage never holds its event up longer than its time limit:
   * that limit counts the event's wait too. (Its failures are only outcomes; a plugin that
   * crashes on every event would otherwise slow the pipeline down to one crash per event.)
   */
  readonly additive?: boolean
}

interface Pending {
  readonly input: PluginInput
  readonly clock: StageClock | undefined
  /** fires when the stage stops waiting (its time limit) */
  readonly signal: AbortSignal
  /** its output was handed over already (RunWatch.settled) */
  settled?: boolean
  readonly resolve: (result: StageResult) => void
  readonly reject: (err: Error) => void
}

/**
 * Builds the stage function of a sandboxed plugin. The worker runs a whole pulled batch of events
 * through the DAG in one turn of the event loop; the calls that arrive in one turn are collected
 * and cross into the sandbox as one batch (one copy in, one copy out) instead of one call each.
 *
 * The stage's time limit counts only an event's own call (RunWatch.running), not its wait: for
 * the batch calls queued before it, a batch call that failed because of another event, or a
 * sandbox restart. Under load, with a poison event that crashes the sandbox, that wait grows
 * with the queue and would time out innocent events until they are dead-lettered.
 */
export function createPluginStage(opts: PluginStageOptions): StageFn {
  const maxBatch = opts.maxBatch ?? 256
  let pending: Pending[] = []

  const flush = (): void => {
    const batch = pending.splice(0, maxBatch)
    if (pending.length > 0) setImmediate(flush)
    void opts
      .instance()
      .then((instance) =>
        instance.run(
          batch.map((p) => p.input),
          {
            running: (i) => batch[i]?.clock?.resume(),
            // an event settles with its own output, not once the whole batch has (its reruns)
            settled: (i, output) => settle(batch[i], output),
            abandoned: (i) => batch[i]?.signal.aborted === true,
            bestEffort: opts.additive === true,
          },
        ),
      )
      .then(
        (outputs) => batch.forEach((p, i) => settle(p, outputs[i])),
        (err: unknown) => {
          // a revoked plugin's stage fails with the revocation itself, so a dead letter names it
          const error = isOmniError(err) && err.code === 'OMNI_ERR_PLUGIN_REVOKED' ? err : omniError('OMNI_ERR_PLUGIN_FAILED', `plugin ${opts.plugin} is not available: ${err instanceof Error ? err.message : String(err)}`, { cause: err })
          for (const p of batch) p.reject(error)
        },
      )
  }

  const settle = (p: Pending | undefined, output: PluginOutput | undefined): void => {
    if (!p || p.settled) return
    p.settled = true
    try {
      p.resolve(toStageResult(opts, output, p.input.event))
    } catch (err) {
      p.reject(err as Error)
    }
  }

  return (ctx: StageContext) =>
    new Promise<StageResult>((resolve, reject) => {
      const clock = ctx.clock
      // stopped until the event's own call starts: see above
      if (!opts.additive) clock?.pause()
      pending.push({ input: { event: ctx.event, labels: ctx.labels, attempt: ctx.attempt }, clock, signal: ctx.signal, resolve, reject })
      if (pending.length === 1) setImmediate(flush)
    })
}

/** Turns a checked plugin output into a stage result; a plugin fault becomes OMNI_ERR_PLUGIN_FAILED. */
function toStageResult(opts: PluginStageOptions, output: PluginOutput | undefined, source: Envelope): StageResult {
  if (!output) throw omniError('OMNI_ERR_PLUGIN_FAILED', `plugin ${opts.plugin} returned no result for this event`)
  switch (output.type) {
    case 'error':
      throw omniError('OMNI_ERR_PLUGIN_FAILED', `plugin ${opts.plugin} ${describeKind(output.kind)}: ${output.message}`)
    case 'drop':
      return { type: 'drop', reason: output.reason }
    case 'continue': {
      for (const e of output.emit ?? []) {
        if (!SUBJECT_RE.test(e.subject)) throw omniError('OMNI_ERR_PLUGIN_FAILED', `plugin ${opts.plugin} emitted to "${e.subject}", which is not a concrete omni.{evt|cmd} subject`)
        if (!opts.emit.some((pattern) => subjectsOverlap(pattern, e.subject))) {
          throw omniError('OMNI_ERR_PLUGIN_FAILED', `plugin ${opts.plugin} emitted to "${e.subject}", which its approved capabilities do not allow (${opts.emit.join(', ') || 'none'})`)
        }
        // A plugin writes the whole envelope it emits: without this, one that serves tenant A
        // (its audience) could put events into tenant B's stream, queries and pipelines.
        if (e.event.tenant !== source.tenant) {
          throw omniError('OMNI_ERR_PLUGIN_FAILED', `plugin ${opts.plugin} emitted an event of tenant "${e.event.tenant}" to "${e.subject}" while handling one of tenant "${source.tenant}"; a plugin emits only into the tenant of the event it handles`)
        }
      }
      return {
        type: 'continue',
        ...(output.data ? { data: output.data } : {}),
        ...(output.labels ? { labels: output.labels } : {}),
        ...(output.emit ? { emit: output.emit } : {}),
      }
    }
  }
}

function describeKind(kind: string): string {
  switch (kind) {
    case 'threw':
      return 'threw'
    case 'timeout':
      return 'timed out'
    case 'memory':
      return 'ran out of memory'
    case 'crashed':
      return 'crashed its sandbox'
    case 'invalid-result':
      return 'returned an invalid result'
    default:
      return `failed (${kind})`
  }
}

export interface PluginCartridgeOptions extends PluginStageOptions {
  readonly description: string
  /** alpha and community tiers */
  readonly additive: boolean
  /** tenants the plugin may run for; `*` means any */
  readonly tenants: readonly string[]
}

/** The stage type prefix of plugins: a pipeline uses plugin `acme.x` as `plugin:acme.x`. */
export const PLUGIN_PREFIX = 'plugin:'

/** The plugin id a stage type names; undefined for a built-in cartridge. */
export const pluginIdOf = (uses: string): string | undefined => (uses.startsWith(PLUGIN_PREFIX) ? uses.slice(PLUGIN_PREFIX.length) : undefined)

/** The stage type `plugin:<id>` that pipelines use, for one verified and approved plugin. */
export function pluginCartridge(opts: PluginCartridgeOptions): Cartridge<Record<string, never>> {
  const anyTenant = opts.tenants.includes('*')
  return {
    id: `${PLUGIN_PREFIX}${opts.plugin}`,
    title: `Plugin ${opts.plugin}`,
    description: opts.description,
    phase: 'meta',
    // a plugin's behaviour is fixed by its signed code; a pipeline cannot configure it
    configSchema: Type.Object({}, { additionalProperties: false }),
    create: () => createPluginStage(opts),
    // what its capabilities let it publish to: validation follows these for loops through other pipelines
    emitsTo: () => opts.emit,
    plugin: {
      additive: opts.additive,
      admits: (event: Envelope) =>
        anyTenant || (event.tenant !== undefined && opts.tenants.includes(event.tenant)) ? undefined : `tenant "${event.tenant ?? ''}" is not in plugin ${opts.plugin}'s audience`,
    },
  }
}
