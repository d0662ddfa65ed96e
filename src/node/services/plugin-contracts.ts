import Type from 'typebox'
import { ApprovedCapabilitiesSchema } from '../../plugins/approvals.ts'
import { BUNDLE_FORMAT, DEFAULT_YANK_REASON, PLUGIN_ID_PATTERN, SEMVER_PATTERN, TierSchema, TIMESTAMP_PATTERN } from '../../plugins/mod.ts'

// the plugin service's requests and answers, as TypeBox schemas: the API validates with them and
// the service is typed by them

const Base64 = Type.String({ pattern: '^[A-Za-z0-9+/]*={0,2}$', description: 'base64' })
export const PluginId = Type.String({ pattern: PLUGIN_ID_PATTERN, maxLength: 64, description: 'a plugin id, like acme.shout' })
export const Version = Type.String({ pattern: SEMVER_PATTERN, maxLength: 128, description: 'a semantic version, like 1.0.0' })
const Timestamp = Type.String({ pattern: TIMESTAMP_PATTERN, description: 'RFC 3339, e.g. 2027-06-01T00:00:00Z' })
const Digest = Type.String({ pattern: '^[0-9a-f]{64}$', description: 'sha256 (hex) of the signed manifest bytes' })
/** A key file name as a request gives it: a plain name, never a path. */
import { KEY_NAME_PATTERN } from './plugin-scope.ts'
/** A key file in `<trust>/keys` on the API server's host (keys stay there; their bytes never travel in a request). */
const ServerKeyName = Type.String({
  pattern: KEY_NAME_PATTERN,
  description: 'the file name (no path) of a private key (PEM, from `omni plugin keygen`) in the `keys` folder of the trust store on the API server host, e.g. root.key',
})

export const IdParams = Type.Object({ id: PluginId }, { additionalProperties: false })

export const ApprovalStatus = Type.Object(
  {
    state: Type.Union([Type.Literal('none'), Type.Literal('approved'), Type.Literal('widened'), Type.Literal('unknown')], {
      description: 'none: never approved; approved: asks for nothing beyond its approval; widened: asks for more (see widened); unknown: the folder does not verify',
    }),
    by: Type.Optional(Type.String()),
    widened: Type.Optional(Type.Array(Type.String())),
  },
  { description: 'whether the capabilities it asks for are approved' },
)

const ErrorInfo = Type.Object({ code: Type.String(), message: Type.String() })

export const PluginRow = Type.Object({
  id: Type.String(),
  folder: Type.String({ description: 'the folder under the plugins directory' }),
  version: Type.String({ description: '"?" when the folder does not verify and has no readable manifest' }),
  serial: Type.Union([Type.Integer(), Type.Null()]),
  tier: Type.String(),
  runtime: Type.String(),
  additive: Type.Union([Type.Boolean(), Type.Null()], { description: 'community and alpha plugins run additively, never on the approved path' }),
  verified: Type.Boolean({ description: 'the folder verifies now (signature, trust, revocation, dates, audience, files)' }),
  digest: Type.Union([Digest, Type.Null()]),
  error: Type.Optional(ErrorInfo),
  state: Type.Union([Type.Literal('running'), Type.Literal('verified'), Type.Literal('rejected'), Type.Literal('stopped'), Type.Literal('not-loaded')], {
    description:
      'as the fabric saw it at its last plugin scan (start or reload): running in a sandbox, verified and usable, rejected, stopped (it was running and no longer verifies, e.g. revoked: its sandbox instance is closed and the stages that use it fail their events), or installed since (not loaded yet)',
  }),
  reason: Type.Optional(Type.String({ description: 'why the fabric rejected it' })),
  approval: ApprovalStatus,
})

export const ListResponse = Type.Object({
  enabled: Type.Boolean({ description: 'false when the fabric runs without plugins (no plugins folder or trust store configured)' }),
  plugins: Type.Array(PluginRow),
})

export const ReloadSummary = Type.Object(
  {
    type: Type.Union([Type.Literal('reloaded'), Type.Literal('rejected')]),
    added: Type.Optional(Type.Array(Type.String())),
    changed: Type.Optional(Type.Array(Type.String())),
    removed: Type.Optional(Type.Array(Type.String())),
    problems: Type.Optional(Type.Array(Type.Object({ where: Type.String(), message: Type.String() }))),
  },
  { description: 'the fabric reloaded after the change (plugins rescanned, pipelines re-checked); rejected keeps the running pipelines and says why' },
)

export const InstalledPlugin = Type.Object({
  id: Type.String(),
  version: Type.String(),
  serial: Type.Integer(),
  tier: Type.String(),
  runtime: Type.String(),
  additive: Type.Boolean(),
  digest: Digest,
  keyid: Type.String(),
  signer: Type.String(),
})

export const InstallBody = Type.Object(
  {
    id: PluginId,
    version: Version,
    bundle: Type.Optional(
      Type.Object(
        {
          format: Type.Literal(BUNDLE_FORMAT),
          envelope: Base64,
          files: Type.Array(Type.Object({ path: Type.String({ minLength: 1, maxLength: 255 }), data: Base64 }, { additionalProperties: false }), { maxItems: 256 }),
        },
        { additionalProperties: false, description: `a signed bundle in the registry's format (${BUNDLE_FORMAT}: the DSSE envelope and each code file, base64); without it, <id>@<version> is fetched from the registry` },
      ),
    ),
  },
  { additionalProperties: false },
)

export const InstallResponse = Type.Object({
  plugin: InstalledPlugin,
  source: Type.Union([Type.Literal('registry'), Type.Literal('upload')]),
  highWater: Type.Object({
    type: Type.Union([Type.Literal('first'), Type.Literal('newer'), Type.Literal('same')]),
    serial: Type.Integer(),
    previous: Type.Optional(Type.Integer()),
  }),
  approval: ApprovalStatus,
  reload: ReloadSummary,
})

export const ApproveBody = Type.Object(
  // no approver name: the approval records the identity of the token that made the request
  {
    digest: Type.Optional(Type.String({ pattern: '^[0-9a-f]{64}$', description: 'approve only if the installed manifest still has this digest (the one reviewed, e.g. from GET /v1/plugins)' })),
  },
  { additionalProperties: false },
)

const ApprovalBrief = Type.Object({
  by: Type.String({ description: 'who approved: `token:<name>` of the API token, or `cli:<user>@<host>` of the CLI' }),
  at: Type.String(),
  version: Type.String(),
  serial: Type.Integer(),
  keyid: Type.Union([Type.String(), Type.Null()], { description: 'the signing key the approval is bound to (null: recorded before approvals were bound; it covers nothing)' }),
  tier: Type.Union([Type.String(), Type.Null()], { description: 'the tier the approval is bound to' }),
})

export const ApproveResponse = Type.Object({
  plugin: InstalledPlugin,
  capabilities: ApprovedCapabilitiesSchema,
  previous: Type.Union([ApprovalBrief, Type.Null()]),
  widened: Type.Array(Type.String(), { description: 'what is new, wider or otherwise not covered by the previous approval (another signing key, another tier)' }),
  approval: ApprovalBrief,
  reload: ReloadSummary,
})

export const RevokeBody = Type.Object(
  {
    versions: Type.Optional(Type.Array(Version, { minItems: 1, maxItems: 64, description: 'versions to yank (default: the installed version)' })),
    reason: Type.Optional(Type.String({ minLength: 1, maxLength: 500, pattern: '\\S', description: `shown when a yanked version is refused (default "${DEFAULT_YANK_REASON}")` })),
    rootKey: ServerKeyName,
    expiresAt: Type.Optional(Timestamp),
  },
  { additionalProperties: false },
)

/** A stage of a running pipeline that used a plugin the change stopped. */
export const AffectedStage = Type.Object(
  {
    pipeline: Type.String(),
    stage: Type.String(),
    plugin: Type.String(),
    additive: Type.Boolean({ description: 'true: the failure is recorded as the stage outcome and the event goes on; false: the event is retried, then dead-lettered' }),
  },
  { description: 'a running pipeline stage whose plugin was stopped: it no longer calls the plugin and fails every later event with the reason (OMNI_ERR_PLUGIN_REVOKED) until the pipeline no longer uses it' },
)

export const RevokeResponse = Type.Object({
  yanked: Type.Array(Type.Object({ version: Type.String(), reason: Type.String(), added: Type.Boolean({ description: 'false when it was yanked already' }) })),
  list: Type.Object({ issuedAt: Type.String(), expiresAt: Type.String(), revokedKeys: Type.Integer(), yanked: Type.Integer() }),
  reload: ReloadSummary,
  affected: Type.Array(AffectedStage, { description: 'the running pipelines (and their stages) that used the plugin, which this node stopped' }),
})

export const PromoteBody = Type.Object(
  {
    tier: TierSchema,
    key: ServerKeyName,
    expiresAt: Type.Optional(Timestamp),
  },
  { additionalProperties: false },
)

export const PromoteResponse = Type.Object({
  plugin: InstalledPlugin,
  from: Type.String({ description: 'the tier before' }),
  published: Type.Object({ name: Type.String(), serial: Type.Integer() }),
  highWater: Type.Object({ type: Type.String(), serial: Type.Integer() }),
  reload: ReloadSummary,
})
