// Buckets are made at start, often while a fresh cluster still elects the leaders of the streams
// made a moment before: a JetStream API request then times out (5 s) or finds no responder, and
// `omni up` exited. Two platform processes starting together on a new 3-server cluster failed so
// about one start in sixteen (the scale-out check, 2026-12-08). Such a request is tried again for
// a bounded time; any other error, or one that outlasts the budget, goes through.
import { isOutage } from '../errors/mod.ts'

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

/** A timeout, no responders, or JetStream "temporarily unavailable" (10008): what an election gives for a while. */
export function isElectionError(err: unknown): boolean {
  if (isOutage(err)) return true
  const e = err as { name?: unknown; message?: unknown; code?: unknown; api_error?: { err_code?: unknown } } | null
  if (e?.name === 'TimeoutError' || e?.name === 'NoRespondersError') return true
  if (e?.api_error?.err_code === 10008) return true
  return typeof e?.message === 'string' && /\bno responders\b|\btimeout\b|temporarily unavailable/i.test(e.message)
}

/** Runs `request` again (250 ms, doubling to 2 s apart) while it fails as an election does, for at most `budgetMs`. */
export async function whileElecting<T>(request: () => Promise<T>, budgetMs = 30_000): Promise<T> {
  const until = Date.now() + budgetMs
  for (let wait = 250; ; wait = Math.min(wait * 2, 2000)) {
    try {
      return await request()
    } catch (err) {
      if (!isElectionError(err) || Date.now() + wait > until) throw err
      await sleep(wait)
    }
  }
}
