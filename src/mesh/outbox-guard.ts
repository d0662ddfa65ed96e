import type { JetStreamManager } from '@nats-io/jetstream'
import type { Logger } from '../observability/logger.ts'
import { meshMetrics } from '../observability/metrics.ts'
import { MESH_VISIBILITIES, meshOutboxStream } from '../wire/mod.ts'
import { isNotFound } from '../jetstream/topology.ts'

/**
 * Removes consumers a peer made on this node's outboxes. The hubs let members (and another
 * cluster's hub, for the public outbox) send consumer-create requests for the outboxes, because
 * stream sourcing needs them, but they cannot check the config inside: a hostile peer could
 * make any number of consumers, delivering on any subject of this node's own server.
 *
 * Measured on nats-server 2.15.1: the consumers stream sourcing makes are internal ("direct")
 * ones, which are neither listed nor counted, and nothing of this node consumes its outboxes. So
 * every consumer listed on an outbox was made by someone else on purpose: it is deleted, logged
 * and counted (`omni_mesh_refused_total{reason="outbox-consumer"}`).
 */

/** How often the outboxes are checked: a stray consumer lives at most this long. */
export const OUTBOX_GUARD_INTERVAL_MS = 2_000

export interface OutboxGuard {
  /** one pass now (also what the timer runs); resolves with the consumers removed */
  sweep(): Promise<string[]>
  close(): void
}

export function guardOutboxes(jsm: JetStreamManager, logger: Logger, intervalMs = OUTBOX_GUARD_INTERVAL_MS): OutboxGuard {
  let running: Promise<string[]> | undefined
  const sweepOnce = async (): Promise<string[]> => {
    const removed: string[] = []
    for (const vis of MESH_VISIBILITIES) {
      const stream = meshOutboxStream(vis)
      const found: { name: string; deliver: string | undefined }[] = []
      try {
        for await (const c of jsm.consumers.list(stream)) found.push({ name: c.name, deliver: c.config.deliver_subject })
      } catch (err) {
        if (isNotFound(err)) continue
        throw err
      }
      for (const c of found) {
        await jsm.consumers.delete(stream, c.name).catch((err: unknown) => {
          if (!isNotFound(err)) throw err
        })
        removed.push(`${stream}/${c.name}`)
        meshMetrics.refused.inc({ peer: 'unknown', reason: 'outbox-consumer' })
        logger.warn({ stream, consumer: c.name, deliver: c.deliver }, 'removed a consumer a peer made on this node\'s outbox (stream sourcing makes none that show)')
      }
    }
    return removed
  }
  const sweep = () => (running ??= sweepOnce().finally(() => (running = undefined)))
  const timer = setInterval(() => {
    sweep().catch((err: unknown) => logger.warn({ err }, 'could not check the outboxes for stray consumers'))
  }, intervalMs)
  timer.unref()
  return { sweep, close: () => clearInterval(timer) }
}
