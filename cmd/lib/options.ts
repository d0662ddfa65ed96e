import { resolve } from 'node:path'

/** Default server URL: $OMNI_NATS_URL, else the local server `omni up` starts. */
export const DEFAULT_NATS_URL = process.env['OMNI_NATS_URL'] ?? 'nats://127.0.0.1:4222'
/** Default manifests folder: $OMNI_MANIFESTS, else ./manifests. */
export const DEFAULT_MANIFESTS = process.env['OMNI_MANIFESTS'] ?? 'manifests'

export function manifestsPath(p: string | undefined): string {
  return resolve(p ?? DEFAULT_MANIFESTS)
}
