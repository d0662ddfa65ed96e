import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream'
import { tenantAllowed, type TenantScope } from '../../envelope/tenants.ts'
import { omniError } from '../../errors/mod.ts'
import { getDeadLetter, listDeadLetters, redriveDeadLetters, type DeadLetter, type DeadLetterFilter, type IsRunning } from '../../jetstream/dlq.ts'
import type { AckPublisher } from '../../jetstream/publisher-types.ts'
import { runningPipelines } from '../../jetstream/running-set.ts'

export type { DeadLetter, DeadLetterFilter } from '../../jetstream/dlq.ts'

/** A dead letter's stored bytes as clients see them: the event (JSON), or the text when it is not JSON. */
export function deadLetterBody(data: Uint8Array): unknown {
  const text = new TextDecoder().decode(data)
  try {
    return JSON.parse(text)
  } catch {
    return text
  }
}

export interface RedriveResult {
  readonly dryRun: boolean
  /** the dead letters that matched, oldest first */
  readonly letters: readonly DeadLetter[]
  /** sent back now (0 on a dry run) */
  readonly redriven: number
  /** already sent back by an earlier, interrupted redrive */
  readonly duplicates: number
}

/** Dead letters: list, inspect, and send back to the pipeline each failed in. */
export interface DeadLetterService {
  list(filter?: DeadLetterFilter): Promise<DeadLetter[]>
  /** one dead letter by its DLQ sequence; OMNI_ERR_NOT_FOUND once redriven, or when its tenant is not in `tenants` */
  get(seq: number, tenants?: TenantScope): Promise<DeadLetter>
  /**
   * Sends the matching dead letters back and removes them from the DLQ; refused (OMNI_ERR_CONFLICT,
   * nothing sent) when one belongs to a pipeline the node does not run.
   */
  redrive(filter: DeadLetterFilter, opts?: { readonly dryRun?: boolean; readonly onProgress?: (done: number, total: number) => void }): Promise<RedriveResult>
}

export interface DeadLetterDeps {
  readonly js: JetStreamClient
  readonly jsm: JetStreamManager
  readonly publisher: AckPublisher
  /** which pipelines run now: the node's own set, or what the live nodes recorded (`recordedRunningSets`) */
  readonly running: () => Promise<IsRunning>
}

export function createDeadLetterService(deps: DeadLetterDeps): DeadLetterService {
  const { js, jsm, publisher } = deps
  return {
    list: (filter = {}) => listDeadLetters(jsm, js, filter),
    async get(seq, tenants) {
      const letter = await getDeadLetter(jsm, seq)
      // another tenant's letter answers as a missing one: its existence does not leak
      if (!letter || !tenantAllowed(tenants, letter.tenant)) throw omniError('OMNI_ERR_NOT_FOUND', `no dead letter ${seq} (redriven, or never stored)`)
      return letter
    },
    async redrive(filter, opts = {}) {
      if (opts.dryRun) return { dryRun: true, letters: await listDeadLetters(jsm, js, filter), redriven: 0, duplicates: 0 }
      const isRunning = await deps.running()
      const result = await redriveDeadLetters(jsm, js, publisher, filter, { isRunning, ...(opts.onProgress ? { onProgress: opts.onProgress } : {}) })
      return { dryRun: false, ...result }
    },
  }
}

/**
 * Which pipelines run, for a process beside the nodes (the CLI): the union of what the live
 * nodes recorded, so it sees a pipeline removed through a node's API as that node does.
 */
export function recordedRunningSets(js: JetStreamClient, jsm: JetStreamManager): () => Promise<IsRunning> {
  return async () => (await runningPipelines(js, jsm)).isRunning
}
