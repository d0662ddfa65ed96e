import Type from 'typebox'
import { getCartridge } from '../../src/cartridges/mod.ts'
import type { Cartridge } from '../../src/pipeline/stage.ts'
import type { CartridgeLookup } from '../../src/pipeline/stage-builder.ts'

/** Fails every delivery of an event whose data.poison is true: the poison of scenario 6. */
const poison: Cartridge<Record<string, never>> = {
  id: 'ledger.poison',
  title: 'Poison check (ledger only)',
  description: 'Throws for an event with data.poison = true, on every delivery; continues otherwise.',
  phase: 'meta',
  configSchema: Type.Object({}, { additionalProperties: false }),
  create: () => (ctx) => {
    if (ctx.event.data['poison'] === true) throw new Error(`poison event ${String(ctx.event.data['n'])}`)
    return { type: 'continue' }
  },
}

/** The built-in cartridges plus the ledger's own. */
export const ledgerLookup: CartridgeLookup = (id) => (id === poison.id ? poison : getCartridge(id))
