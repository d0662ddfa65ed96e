import type { TSchema } from 'typebox'
import { agentDefault, agentPersonal } from './route/agent.ts'
import { command } from './route/command.ts'
import { dedup } from './guard/dedup.ts'
import { allowlist, denylist } from './guard/lists.ts'
import { rateLimit } from './guard/rate-limit.ts'
import { selfRoute } from './guard/self-route.ts'
import { trust } from './guard/trust.ts'
import { analyticsLog } from './meta/analytics-log.ts'
import { correlate } from './meta/correlate.ts'
import { tagging } from './persist/tagging.ts'
import { classify } from './transform/classify.ts'
import { enrich } from './transform/enrich.ts'
import { redact } from './transform/redact.ts'
import { truncate } from './transform/truncate.ts'
import { PHASES, type Cartridge, type Phase } from '../pipeline/stage.ts'

export { analyticsSnapshot } from './meta/analytics-log.ts'
export * from '../pipeline/stage.ts'

const all: readonly Cartridge[] = [
  trust, dedup, enrich, correlate, classify, redact, truncate, selfRoute, allowlist, denylist, rateLimit,
  command, agentDefault, agentPersonal, tagging, analyticsLog,
]

/** The trusted built-in cartridges, in canonical phase order, then by id. */
export const builtinCartridges: readonly Cartridge[] = Object.freeze(
  [...all].sort((a, b) => PHASES.indexOf(a.phase) - PHASES.indexOf(b.phase) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)),
)

const byId = new Map(builtinCartridges.map((c) => [c.id, c]))

/** The built-in cartridge with this id, if there is one. */
export function getCartridge(id: string): Cartridge | undefined {
  return byId.get(id)
}

export interface CartridgeListing {
  readonly id: string
  readonly title: string
  readonly description: string
  readonly phase: Phase
  readonly configSchema: TSchema
}

/** The marketplace listing: every built-in cartridge as plain JSON, in canonical order. */
export function cartridgeListing(): CartridgeListing[] {
  return builtinCartridges.map(({ id, title, description, phase, configSchema }) => ({ id, title, description, phase, configSchema }))
}
