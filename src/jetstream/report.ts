// What long-lived consumers report, each through one `report` function instead of a callback
// per happening; the node turns the reports into its status() stream.

/**
 * Everything an event produced is durable and its ack is next. Reported synchronously, so a
 * fault injector (tests, the ledger) can stop the process or throw at exactly this moment; a
 * throw leaves the event unacknowledged. The node does not pass these on to status() readers.
 */
export interface Acking {
  readonly type: 'acking'
  /** the pipeline's name, or the recorder's */
  readonly consumer: string
  readonly seq: number
  readonly attempt: number
}

/** A consumer stopped on its own for good (its connection closed): the node fails with the reason. */
export interface ConsumerFailed {
  readonly type: 'consumer-failed'
  readonly consumer: string
  readonly reason: string
}

/** One function a component reports through; it must not be slow (it runs on the hot path). */
export type Report<S> = (status: S) => void
