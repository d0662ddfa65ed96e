import type { JsMsg } from '@nats-io/jetstream'

/** Messages held longer than this tell the server they are alive (ack_wait defaults to 30 s). */
export const WORKING_EVERY_MS = 10_000

/** Messages a consumer holds while it waits on something slow (ClickHouse), kept from redelivery. */
export interface WorkingHeartbeat {
  hold(m: JsMsg): void
  release(m: JsMsg): void
  stop(): void
}

/**
 * One timer for every held message: each one held longer than the interval gets `working()`,
 * so an outage of what the consumer waits on does not turn into redeliveries.
 */
export function startWorkingHeartbeat(everyMs = WORKING_EVERY_MS): WorkingHeartbeat {
  const held = new Map<JsMsg, number>()
  const timer = setInterval(() => {
    const before = Date.now() - everyMs
    for (const [m, since] of held) if (since < before) m.working()
  }, everyMs).unref()
  return {
    hold: (m) => void held.set(m, Date.now()),
    release: (m) => void held.delete(m),
    stop: () => clearInterval(timer),
  }
}
