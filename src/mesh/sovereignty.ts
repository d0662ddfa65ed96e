import type { MeshSovereignty, SovereigntyLevel } from './config.ts'

/** The level for a cartridge: by its publisher key id, else by its tier, else the default. */
export function sovereigntyLevel(s: MeshSovereignty, keyid: string, tier: string): SovereigntyLevel {
  return s.keys[keyid] ?? s.tiers[tier] ?? s.default
}

/** The `meshMetrics.refused` reason (and `cartridge.refused` reason) for a refusal's error code. */
export function refusalReason(code: string, message: string): string {
  switch (code) {
    case 'OMNI_ERR_PLUGIN_SIGNATURE':
      return 'cartridge-tampered'
    case 'OMNI_ERR_PLUGIN_UNTRUSTED':
      // the tier cap is one kind of distrust; say it apart, the operator fixes it elsewhere
      return / is only granted up to tier /.test(message) ? 'cartridge-tier' : 'cartridge-untrusted'
    case 'OMNI_ERR_PLUGIN_REVOKED':
      return 'cartridge-revoked'
    case 'OMNI_ERR_PLUGIN_ROLLBACK':
      return 'cartridge-rollback'
    case 'OMNI_ERR_PLUGIN_EXPIRED':
      return 'cartridge-expired'
    case 'OMNI_ERR_PLUGIN_MANIFEST':
      // a file whose bytes do not match the signed digest is tampering too
      return / does not match its manifest/.test(message) ? 'cartridge-tampered' : 'cartridge-malformed'
    case 'OMNI_ERR_PLUGIN_APPROVAL':
      return 'cartridge-approval'
    case 'OMNI_ERR_UNAVAILABLE':
      return 'cartridge-no-plugins'
    default:
      return 'cartridge-invalid'
  }
}

/**
 * Whether a failure is passing (NATS or a bucket briefly out of reach): the event is retried, not
 * refused. A node started without plugins answers OMNI_ERR_UNAVAILABLE too, for good: refused.
 */
export function isPassingFailure(code: string, message: string): boolean {
  return code === 'OMNI_ERR_UNAVAILABLE' && !/runs without plugins/.test(message)
}
