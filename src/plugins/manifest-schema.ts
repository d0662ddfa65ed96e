import Type, { type Static } from 'typebox'
import type { Runtime } from '../sandbox/types.ts'
import type { Tier } from './tiers.ts'

/** `vendor.name` (dots between segments), lower case; at most 64 characters. */
export const PLUGIN_ID_PATTERN = '^[a-z][a-z0-9-]*(\\.[a-z0-9-]+)+$'
/** Semantic Versioning 2.0.0, as the spec's own regular expression gives it. */
export const SEMVER_PATTERN =
  '^(0|[1-9]\\d*)\\.(0|[1-9]\\d*)\\.(0|[1-9]\\d*)(?:-((?:0|[1-9]\\d*|\\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\\.(?:0|[1-9]\\d*|\\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\\+([0-9a-zA-Z-]+(?:\\.[0-9a-zA-Z-]+)*))?$'
/** RFC 3339 date-time with an explicit offset, e.g. 2026-11-22T00:00:00Z. */
export const TIMESTAMP_PATTERN = '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d+)?(Z|[+-]\\d{2}:\\d{2})$'
export const SHA256_PATTERN = '^[0-9a-f]{64}$'

// spelled out (not mapped from TIERS/RUNTIMES) so the static types stay the literal unions
export const TierSchema = Type.Union([Type.Literal('alpha'), Type.Literal('community'), Type.Literal('private'), Type.Literal('verified'), Type.Literal('core')])
export const RuntimeSchema = Type.Union([Type.Literal('inprocess'), Type.Literal('isolate'), Type.Literal('container')])

export const PluginFileSchema = Type.Object(
  {
    path: Type.String({ minLength: 1, maxLength: 255 }),
    size: Type.Integer({ minimum: 0, maximum: 64 * 1024 * 1024 }),
    sha256: Type.String({ pattern: SHA256_PATTERN }),
  },
  { additionalProperties: false },
)

export const CapabilitiesSchema = Type.Object(
  {
    /** NATS subject patterns the plugin may publish to */
    emit: Type.Array(Type.String({ minLength: 1, maxLength: 255 }), { maxItems: 64 }),
    memoryMb: Type.Integer({ minimum: 8, maximum: 2048 }),
    timeoutMs: Type.Integer({ minimum: 10, maximum: 60_000 }),
    cpus: Type.Optional(Type.Number({ minimum: 0.05, maximum: 4 })),
    pids: Type.Optional(Type.Integer({ minimum: 1, maximum: 4096 })),
    network: Type.Optional(Type.Literal('none')),
  },
  { additionalProperties: false },
)

const AudienceName = Type.String({ pattern: '^(\\*|[a-z0-9][a-z0-9_.-]*)$', maxLength: 64 })

export const PluginManifestSchema = Type.Object(
  {
    kind: Type.Literal('Plugin'),
    id: Type.String({ pattern: PLUGIN_ID_PATTERN, maxLength: 64 }),
    version: Type.String({ pattern: SEMVER_PATTERN, maxLength: 64 }),
    /** raised on every re-signing; nodes refuse anything older than the highest seen */
    serial: Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER }),
    description: Type.Optional(Type.String({ maxLength: 1024 })),
    runtime: RuntimeSchema,
    tier: TierSchema,
    entry: Type.Object(
      {
        main: Type.String({ minLength: 1 }),
        files: Type.Array(PluginFileSchema, { minItems: 1, maxItems: 256 }),
      },
      { additionalProperties: false },
    ),
    image: Type.Optional(Type.String({ minLength: 1, maxLength: 512 })),
    capabilities: CapabilitiesSchema,
    audience: Type.Object(
      {
        clusters: Type.Array(AudienceName, { minItems: 1 }),
        tenants: Type.Array(AudienceName, { minItems: 1 }),
      },
      { additionalProperties: false },
    ),
    issuedAt: Type.String({ pattern: TIMESTAMP_PATTERN }),
    expiresAt: Type.String({ pattern: TIMESTAMP_PATTERN }),
  },
  { additionalProperties: false },
)

type RawManifest = Static<typeof PluginManifestSchema>
type RawCapabilities = Static<typeof CapabilitiesSchema>

/** Capabilities with their defaults filled in (cpus 0.5, pids 32, network none). */
export type PluginCapabilities = Readonly<Omit<RawCapabilities, 'cpus' | 'pids' | 'network' | 'emit'>> & {
  readonly emit: readonly string[]
  readonly cpus: number
  readonly pids: number
  readonly network: 'none'
}

export type PluginFile = Readonly<Static<typeof PluginFileSchema>>

/** A checked, frozen plugin manifest. */
export type PluginManifest = Readonly<Omit<RawManifest, 'capabilities' | 'entry' | 'audience'>> & {
  readonly capabilities: PluginCapabilities
  readonly entry: { readonly main: string; readonly files: readonly PluginFile[] }
  readonly audience: { readonly clusters: readonly string[]; readonly tenants: readonly string[] }
}

export const DEFAULT_CPUS = 0.5
export const DEFAULT_PIDS = 32

// compile-time checks that the spelled-out unions match TIERS and RUNTIMES (no runtime code)
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false
type Assert<T extends true> = T
export type TierSchemaMatches = Assert<Same<Static<typeof TierSchema>, Tier>>
export type RuntimeSchemaMatches = Assert<Same<Static<typeof RuntimeSchema>, Runtime>>
