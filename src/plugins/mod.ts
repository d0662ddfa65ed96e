/**
 * Plugin signing and trust: signed manifests (DSSE over the manifest bytes, ed25519), a trust
 * store of root keys that grant publisher keys up to a tier, revocation, bundle verification,
 * serial high-water marks, capability approvals and a registry in a JetStream object store.
 */
export { TIERS, tierRank, tierAllows, isAdditiveTier, mayRunInProcess, type Tier } from './tiers.ts'
export {
  PluginManifestSchema,
  TierSchema,
  PLUGIN_ID_PATTERN,
  SEMVER_PATTERN,
  TIMESTAMP_PATTERN,
  DEFAULT_CPUS,
  DEFAULT_PIDS,
  type PluginManifest,
  type PluginCapabilities,
  type PluginFile,
} from './manifest-schema.ts'
export { parsePluginManifest, sandboxLimits, imageProblem, emitPatternProblem } from './manifest.ts'
export { ENVELOPE_FILE, MANIFEST_FILE, bundlePathProblem } from './paths.ts'
export {
  PAYLOAD_TYPES,
  MAX_ENVELOPE_BYTES,
  pae,
  signEnvelope,
  encodeEnvelope,
  openEnvelope,
  type PayloadType,
  type DsseEnvelope,
  type SigningKey,
  type OpenedEnvelope,
  type OpenOptions,
} from './dsse.ts'
export {
  keyIdOf,
  generateSigningKey,
  publicKeyPem,
  parsePublicKey,
  parseSigningKey,
  readSigningKey,
  readPublicKey,
  writeSigningKey,
  type KeyFiles,
} from './keys.ts'
export { createKeyGrant, writeKeyGrant, parseKeyGrant, type KeyGrant, type KeyGrantInput } from './grants.ts'
export {
  REVOCATIONS_FILE,
  createRevocationList,
  writeRevocationList,
  parseRevocationList,
  type RevocationList,
} from './revocations.ts'
export { loadTrustStore, type TrustStore, type TrustedKey } from './trust.ts'
export { openTrustStore, requireRoot } from './trust-open.ts'
export { verifyPlugin, pluginCode, type VerifiedPlugin, type VerifyOptions } from './verify.ts'
export { sha256Hex } from './bundle-files.ts'
export {
  signPlugin,
  prepareSignature,
  writeSignature,
  type SignOptions,
  type SignedPlugin,
  type PreparedSignature,
  type ManifestEdits,
} from './sign.ts'
export { promotePlugin, type PromoteOptions } from './promote.ts'
export {
  HIGH_WATER_BUCKET,
  openHighWaterMarks,
  type HighWaterMarks,
  type HighWaterMark,
  type HighWaterResult,
} from './high-water.ts'
export {
  APPROVALS_BUCKET,
  openApprovals,
  widenedCapabilities,
  subjectCovers,
  type Approvals,
  type Approval,
} from './approvals.ts'
export {
  REGISTRY_BUCKET,
  MAX_BUNDLE_BYTES,
  openPluginRegistry,
  type PluginRegistry,
  type RegistryEntry,
} from './registry.ts'
export { BUNDLE_FORMAT, decodeBundle, encodeBundle, type PluginBundle } from './registry-blob.ts'
export { installBundle, type InstallTarget } from './install.ts'
export { installChecked, verifyChecked, type CheckedInstall } from './install-checked.ts'
export { adoptRevocationList, type AdoptResult } from './revocation-adopt.ts'
export { listInstalled, inspectInstalled, installedFolders, approvalStatus, type InstalledPlugin, type ApprovalStatus } from './installed.ts'
export {
  updateRevocations,
  defaultRevocationsExpiry,
  REVOCATIONS_DAYS,
  DEFAULT_YANK_REASON,
  type RevocationChange,
  type RevocationUpdate,
  type RevocationEntryResult,
} from './revocation-update.ts'
export { promoteInstalled, type PromoteInstalledOptions, type PromotedInstall } from './promote-installed.ts'
