import { deriveEvent } from '../../envelope/derive.ts'
import type { Envelope } from '../../envelope/schema.ts'
import type { CartridgeEnv, Emission } from '../../pipeline/stage.ts'

/**
 * An emission derived from `parent` by this stage. The discriminator names the pipeline and
 * stage (plus `extra`), so two stages deriving the same type from one event get distinct ids,
 * while a redelivered parent yields exactly the same child.
 */
export function emission(
  env: CartridgeEnv,
  subject: string,
  parent: Readonly<Envelope>,
  child: { type: string; data: Record<string, unknown>; extra?: string },
): Emission {
  const discriminator = [env.pipeline, env.stage, ...(child.extra === undefined ? [] : [child.extra])].join('/')
  return { subject, event: deriveEvent(parent, { type: child.type, data: child.data, discriminator }) }
}
