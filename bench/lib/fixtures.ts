import { fileURLToPath } from 'node:url'
import { getCartridge } from '../../src/cartridges/mod.ts'
import type { EventCatalog } from '../../src/catalog/catalog.ts'
import { omniError } from '../../src/errors/mod.ts'
import { prepareEvent, type PreparedEvent } from '../../src/ingest/prepare.ts'
import { loadManifests } from '../../src/manifests/load.ts'
import type { CompiledPipeline } from '../../src/pipeline/compile.ts'

/** The folder with the bench catalog and pipeline manifests. */
export const FIXTURES_DIR = fileURLToPath(new URL('../fixtures/', import.meta.url))
export const BENCH_EVENT_TYPE = 'bench.tick'

/** The bench catalog and pipeline, loaded and validated like any other manifests. */
export interface BenchFixtures {
  readonly catalog: EventCatalog
  readonly pipeline: CompiledPipeline
  readonly sourceSubject: string
  readonly outputSubject: string
}

/** `dir`: another folder of bench manifests (the mesh scenario writes variants of these). */
export async function loadBenchFixtures(dir = FIXTURES_DIR): Promise<BenchFixtures> {
  const loaded = await loadManifests(dir, getCartridge)
  const pipeline = loaded.pipelines[0]
  const source = pipeline?.sources[0]
  const output = pipeline?.outputs[0]?.subject
  if (loaded.problems.length > 0 || !pipeline || !source || !output) {
    throw omniError('OMNI_ERR_MANIFEST', 'the bench fixtures are invalid', { problems: loaded.problems })
  }
  return { catalog: loaded.catalog, pipeline, sourceSubject: source, outputSubject: output }
}

// about a chat message's worth of text, so the envelope is a realistic few hundred bytes
const TEXT = 'hello from omni bench, a short message of about eighty characters in all, ok.'

/**
 * Builds and validates the n-th event of a run; `sentAt` is a high-resolution ms timestamp;
 * `visibility` lowers the catalog's (the mesh scenario keeps its local run's events home).
 */
export function benchEvent(catalog: EventCatalog, run: string, n: number, sentAt = 0, visibility?: 'local' | 'cluster' | 'public'): PreparedEvent {
  return prepareEvent(
    catalog,
    { type: BENCH_EVENT_TYPE, data: { run, n, kind: n % 4 === 0 ? 'audio' : 'text', text: TEXT, sentAt }, provider: 'bench', instance: 'bench-1', ...(visibility ? { visibility } : {}) },
    { source: 'omni://bench' },
  )
}

/** A timestamp comparable across processes on this machine (ms since the epoch, sub-ms precision). */
export function preciseNow(): number {
  return performance.timeOrigin + performance.now()
}
