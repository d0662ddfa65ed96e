/**
 * How many deliveries of each event met an outage (the platform's own NATS not answering, a
 * worker bug) rather than a fault of the event. JetStream counts every delivery; without this, a
 * stream leader election of a few seconds, retried at a pipeline's short backoff, used up
 * `maxDeliveries` and dead-lettered events that did nothing wrong (a scale-out run with one of
 * three servers SIGKILLed dead-lettered 69 of 3,000).
 *
 * Kept per process and bounded: an event redelivered to another process, or forgotten here, has
 * every delivery counted there, so it may reach its dead letter sooner than its policy says,
 * never later.
 */
export class OutageDeliveries {
  /** stream sequence → deliveries that met an outage; insertion order is age */
  readonly #counts = new Map<number, number>()
  readonly #max: number

  constructor(max = 65_536) {
    this.#max = max
  }

  /** One more delivery of the event at `seq` met an outage. */
  add(seq: number): void {
    const n = (this.#counts.get(seq) ?? 0) + 1
    this.#counts.delete(seq)
    this.#counts.set(seq, n)
    if (this.#counts.size > this.#max) this.#counts.delete(this.#counts.keys().next().value as number)
  }

  /** The event's attempt: its delivery count less the deliveries that met an outage (at least 1). */
  attempt(seq: number, deliveryCount: number): number {
    return Math.max(1, deliveryCount - (this.#counts.get(seq) ?? 0))
  }

  /** The event is settled here (acked, dead-lettered): nothing more to count. */
  forget(seq: number): void {
    this.#counts.delete(seq)
  }

  get size(): number {
    return this.#counts.size
  }
}
