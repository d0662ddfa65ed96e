import { collectDefaultMetrics } from 'prom-client'
import { metricsRegistry } from './metrics.ts'

/** One of the families collectDefaultMetrics registers: present means they are on. */
const MARKER = 'process_cpu_user_seconds_total'

/**
 * Turns on prom-client's default collectors in the process registry: CPU, memory, heap and heap
 * spaces, event-loop lag, GC durations, open handles and file descriptors, the Node version.
 * Idempotent: prom-client throws on a second registration of a name, and one process may build
 * several APIs (the test suite, `omni openapi` beside a running one). The collectors cost
 * nothing between scrapes but an event-loop delay histogram and a GC observer.
 */
export function collectProcessMetrics(): void {
  if (metricsRegistry.getSingleMetric(MARKER)) return
  collectDefaultMetrics({ register: metricsRegistry })
}
