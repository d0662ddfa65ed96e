import t from 'tap'
import { builtinCartridges, cartridgeListing, getCartridge } from '../../src/cartridges/mod.ts'
import { PHASES } from '../../src/pipeline/stage.ts'

const EXPECTED = [
  'guard.trust', 'guard.dedup', 'transform.enrich', 'meta.correlate', 'transform.classify', 'transform.redact',
  'transform.truncate', 'guard.self_route', 'guard.allowlist', 'guard.denylist', 'guard.rate_limit', 'route.command',
  'route.agent.default', 'route.agent.personal', 'persist.tagging', 'meta.analytics.log',
]

/** Every object schema in the tree, to check each one closes its properties. */
function objectSchemas(schema: unknown, at = '$'): Array<{ at: string; schema: Record<string, unknown> }> {
  if (typeof schema !== 'object' || schema === null) return []
  const s = schema as Record<string, unknown>
  const here = s['type'] === 'object' ? [{ at, schema: s }] : []
  const children = Object.entries(s).flatMap(([k, v]) =>
    Array.isArray(v) ? v.flatMap((x, i) => objectSchemas(x, `${at}.${k}[${i}]`)) : objectSchemas(v, `${at}.${k}`),
  )
  return [...here, ...children]
}

t.test('every cartridge: unique id, title, description, object config schema', async (t) => {
  const ids = builtinCartridges.map((c) => c.id)
  t.equal(new Set(ids).size, ids.length, 'ids are unique')
  t.same([...ids].sort(), [...EXPECTED].sort(), 'the expected set of cartridges')
  for (const c of builtinCartridges) {
    t.match(c.id, /^[a-z]+(\.[a-z_]+)+$/, `${c.id}: canonical id`)
    t.ok(c.title.length > 0, `${c.id}: title`)
    t.ok(c.description.length >= 80, `${c.id}: a real description`)
    t.ok(PHASES.includes(c.phase), `${c.id}: known phase`)
    t.equal((c.configSchema as { type?: string }).type, 'object', `${c.id}: config schema is an object`)
    for (const o of objectSchemas(c.configSchema)) t.equal(o.schema['additionalProperties'], false, `${c.id} ${o.at}: additionalProperties false`)
  }
})

t.test('ordered by phase, then id', async (t) => {
  const keys = builtinCartridges.map((c) => [PHASES.indexOf(c.phase), c.id] as const)
  const sorted = [...keys].sort((a, b) => a[0] - b[0] || (a[1] < b[1] ? -1 : 1))
  t.same(keys, sorted)
  t.equal(builtinCartridges[0]?.id, 'guard.trust')
  t.equal(builtinCartridges.at(-1)?.id, 'meta.analytics.log')
})

t.test('getCartridge and the listing', async (t) => {
  t.equal(getCartridge('guard.dedup')?.phase, 'dedup')
  t.equal(getCartridge('guard.nope'), undefined)
  const listing = cartridgeListing()
  t.same(listing.map((l) => l.id), builtinCartridges.map((c) => c.id))
  const json = JSON.parse(JSON.stringify(listing)) as Array<Record<string, unknown>>
  t.same(Object.keys(json[0] ?? {}).sort(), ['configSchema', 'description', 'id', 'phase', 'title'])
  t.same(json[0]?.['configSchema'], JSON.parse(JSON.stringify(builtinCartridges[0]?.configSchema)), 'schemas survive JSON')
})
