import type { StageClock } from './stage.ts'

/**
 * A stage's time limit (`timeout:`) that stops while the stage says its event only waits its
 * turn (StageClock). Nothing runs until `start`, once the stage returned a promise: a synchronous
 * stage never arms a timer. Paused before `start`, it is armed on the first `resume`.
 */
export class StageTimer implements StageClock {
  /** what is left of the limit, in ms */
  #left: number
  #paused = false
  #since = 0
  #timer: NodeJS.Timeout | undefined
  #expire: (() => void) | undefined

  constructor(limitMs: number) {
    this.#left = limitMs
  }

  /** arms the limit; `expire` runs once, when the time that counted reaches it */
  start(expire: () => void): void {
    this.#expire = expire
    if (!this.#paused) this.#arm()
  }

  /** the stage settled: nothing expires any more */
  stop(): void {
    clearTimeout(this.#timer)
    this.#timer = undefined
    this.#expire = undefined
  }

  pause(): void {
    if (this.#paused) return
    this.#paused = true
    if (this.#timer === undefined) return
    clearTimeout(this.#timer)
    this.#timer = undefined
    this.#left -= performance.now() - this.#since
  }

  resume(): void {
    if (!this.#paused) return
    this.#paused = false
    if (this.#expire) this.#arm()
  }

  #arm(): void {
    const expire = this.#expire
    this.#since = performance.now()
    this.#timer = setTimeout(
      () => {
        this.#timer = undefined
        this.#expire = undefined
        expire?.()
      },
      Math.max(0, this.#left),
    )
    this.#timer.unref()
  }
}
