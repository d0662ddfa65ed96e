import type { SinkStatus } from '../clickhouse/sink.ts'
import { recordSettled } from '../observability/settled-metrics.ts'
import type { WorkerStatus } from '../pipeline/worker.ts'
import type { NodeConfig } from './config.ts'
import type { StatusHub } from './status.ts'

/**
 * The one function every worker and recorder of a node reports through: settled events feed the
 * metrics and the status() stream, a consumer's death fails the node, and the moment before each
 * ack goes to the fault injector only (when one is configured; it is never streamed).
 */
export function nodeReporter(config: NodeConfig, status: StatusHub, fail: (reason: string) => void): (s: WorkerStatus | SinkStatus) => void {
  const beforeAck = config.faults?.beforeAck
  const { logger } = config
  return (s) => {
    switch (s.type) {
      case 'acking':
        beforeAck?.(s.consumer, s.seq, s.attempt)
        return
      case 'consumer-failed':
        fail(`${s.consumer}: ${s.reason}`)
        return
      case 'hook-failed':
        logger.warn({ pipeline: s.pipeline, error: s.error }, 'an after-commit hook failed; the event was acknowledged')
        break
      case 'outcomes-rejected':
        logger.error({ pipeline: s.pipeline, error: s.error }, 'ClickHouse refused the outcome rows of a dead-lettered event')
        break
      case 'mark-failed':
        // not streamed: the event is settled as usual, only its protection after the window is missing
        logger.warn({ pipeline: s.pipeline, seq: s.seq, error: s.error }, 'could not mark the outputs of an event as published; a redelivery after the duplicate window could store them again')
        return
      default:
        recordSettled(s)
    }
    status.emit(s)
  }
}
