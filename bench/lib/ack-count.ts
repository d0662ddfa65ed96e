// Counts acknowledgements and lets a run wait for the n-th: the bench's Omni worker and the
// hand-written pipeline both report their progress through it, so both are timed the same way.

export interface AckCount {
  /** acks counted so far */
  readonly value: number
  /** counts one ack; wakes a waiter whose target it reaches */
  add(): void
  /** resolves with performance.now() once `n` acks are counted, or undefined after `timeoutMs` */
  atLeast(n: number, timeoutMs: number): Promise<number | undefined>
}

export function createAckCount(): AckCount {
  let value = 0
  let target = Number.POSITIVE_INFINITY
  let reached: ((at: number) => void) | undefined
  return {
    get value() {
      return value
    },
    add() {
      if (++value >= target && reached) {
        reached(performance.now())
        reached = undefined
      }
    },
    async atLeast(n, timeoutMs) {
      if (value >= n) return performance.now()
      target = n
      let timer: NodeJS.Timeout | undefined
      const at = await Promise.race([
        new Promise<number>((resolve) => (reached = resolve)),
        new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), timeoutMs))),
      ])
      clearTimeout(timer)
      reached = undefined
      target = Number.POSITIVE_INFINITY
      return at
    },
  }
}
