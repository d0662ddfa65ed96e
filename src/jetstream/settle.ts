// How a consumer settles a message it could not process: the same rules for the pipeline worker
// and the event recorder, so a failure means the same thing (and leaves the same trace) wherever
// it happens.
import type { JsMsg } from '@nats-io/jetstream'
import { deadLetter } from './dlq.ts'
import type { AckPublisher } from './publisher-types.ts'

/** The delivery budget of a failing message and the waits between its deliveries. */
export interface RetryPolicy {
  /** deliveries before a failure that may pass is dead-lettered */
  readonly maxDeliveries: number
  /** wait before delivery n + 1 is backoffMs[n - 1]; the last one repeats */
  readonly backoffMs: readonly number[]
}

/** A pipeline's errorPolicy when it sets none, and the recorder's. */
export const DEFAULT_RETRY_POLICY: RetryPolicy = Object.freeze({ maxDeliveries: 5, backoffMs: Object.freeze([1000, 5000, 30_000]) })

/** The wait before the delivery after `attempt` (1-based). */
export function backoffFor(policy: RetryPolicy, attempt: number): number {
  const waits = policy.backoffMs.length > 0 ? policy.backoffMs : DEFAULT_RETRY_POLICY.backoffMs
  return waits[Math.min(Math.max(attempt, 1), waits.length) - 1] as number
}

/**
 * Leaves the message for a later delivery after the backoff of `attempt` (default: its delivery
 * count). JetStream counts that delivery either way; a caller that retries an outage or a bug
 * (no fault of the event) keeps it off the event's budget itself (the worker's OutageDeliveries).
 * Returns the delay.
 */
export function retryLater(m: JsMsg, policy: RetryPolicy, attempt = m.info.deliveryCount): number {
  const delayMs = backoffFor(policy, attempt)
  m.nak(delayMs)
  return delayMs
}

/**
 * Leaves the message for a delivery after the policy's first backoff, whatever its attempt: for
 * work that did not happen at all (the writer closed, the dead-letter stream refused).
 */
export function retrySoon(m: JsMsg, policy: RetryPolicy): void {
  m.nak(backoffFor(policy, 1))
}

/** Whether a failure gets another delivery: it may pass, and deliveries are left. */
export function mayRetry(policy: RetryPolicy, attempt: number, permanent: boolean): boolean {
  return !permanent && attempt < policy.maxDeliveries
}

export interface DeadLetterPlan {
  readonly publisher: AckPublisher
  readonly policy: RetryPolicy
  /** the consumer's name in the dead letters: a pipeline, or the recorder */
  readonly pipeline: string
  readonly stage: string
  readonly error: string
  /**
   * Runs once the letter is stored, before the message is terminated; false leaves it for a
   * later delivery instead (its record of the failure could not be written yet).
   */
  readonly beforeTerm?: () => Promise<boolean>
  /** the attempts the letter records (default: the delivery count); the worker leaves out its outage deliveries */
  readonly attempts?: number
}

/**
 * Stores the message in its consumer's dead letters and terminates it. When the dead-letter
 * stream does not take it, or `beforeTerm` says not yet, the message is nak'ed instead, never
 * dropped; returns whether it was terminated.
 */
export async function deadLetterAndTerm(m: JsMsg, plan: DeadLetterPlan): Promise<boolean> {
  try {
    await deadLetter(plan.publisher, m, { pipeline: plan.pipeline, stage: plan.stage, error: plan.error, attempts: plan.attempts ?? m.info.deliveryCount })
  } catch {
    retrySoon(m, plan.policy)
    return false
  }
  if (plan.beforeTerm && !(await plan.beforeTerm())) {
    retrySoon(m, plan.policy)
    return false
  }
  m.term(`dead-lettered at stage ${plan.stage}`)
  return true
}
