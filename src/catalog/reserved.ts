/**
 * The event types only the node itself publishes, with the way it does. They are reserved
 * whatever the catalog file says: a copied catalog that lost its `reserved: true` must not let a
 * tenant's write token publish a cartridge to the whole mesh or forge the node's audit trail.
 */
export const NODE_EVENT_TYPES: Readonly<Record<string, string>> = {
  'cartridge.published': 'POST /v1/plugins/:id/publish (omni plugin publish --mesh <id>)',
  'cartridge.revoked': 'POST /v1/plugins/revocations/publish (omni plugin revoke --mesh)',
  'cartridge.installed': "its record of a cartridge it installed from the mesh (approve one with POST /v1/plugins/pending/:id/approve)",
  'cartridge.pending': 'its record of a cartridge from the mesh queued for a person',
  'cartridge.refused': "its record of a cartridge or revocation list from the mesh it refused (reject one with POST /v1/plugins/pending/:id/reject)",
  'cartridge.revocations-adopted': 'its record of a revocation list from the mesh it adopted',
}

/** How the node publishes a reserved type, or undefined when any producer may send it. */
export function reservedHow(type: string, marked: boolean | undefined): string | undefined {
  const how = Object.hasOwn(NODE_EVENT_TYPES, type) ? NODE_EVENT_TYPES[type] : undefined
  if (how !== undefined) return how
  return marked === true ? 'no producer may send it' : undefined
}
