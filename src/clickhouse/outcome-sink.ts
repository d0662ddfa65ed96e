import type { CompiledPipeline } from '../pipeline/compile.ts'
import type { OutcomeSink } from '../pipeline/outcome-sink.ts'
import { outcomeRows, type OutcomeRow } from './rows.ts'
import type { BatchWriter } from './writer.ts'

/**
 * The pipeline worker's outcome sink over omni_stage_outcomes: one row per stage an event
 * reached, batched with the other events' rows by the writer.
 */
export function createOutcomeSink(writer: BatchWriter<OutcomeRow>): OutcomeSink {
  return {
    record: (s) => writer.write(outcomeRows({ event: s.event, pipeline: s.pipeline.name, seq: s.seq, attempt: s.attempt, stages: stagesOf(s.pipeline), ...(s.origin ? { origin: s.origin } : {}) }, s.outcomes, s.deadLettered)),
  }
}

const stageMaps = new WeakMap<CompiledPipeline, ReadonlyMap<string, { uses: string }>>()

/** stage id → the cartridge it uses, computed once per compiled pipeline */
function stagesOf(pipeline: CompiledPipeline): ReadonlyMap<string, { uses: string }> {
  let map = stageMaps.get(pipeline)
  if (!map) {
    map = new Map(pipeline.levels.flat().map((s) => [s.id, { uses: s.uses }]))
    stageMaps.set(pipeline, map)
  }
  return map
}
