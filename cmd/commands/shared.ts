import { resolve } from 'node:path'
import { isOmniError } from '../../src/errors/mod.ts'

/** Default server URL: $OMNI_NATS_URL, else the local server `omni up` starts. */
export const DEFAULT_NATS_URL = process.env['OMNI_NATS_URL'] ?? 'nats://127.0.0.1:4222'
/** Default manifests folder: $OMNI_MANIFESTS, else ./manifests. */
export const DEFAULT_MANIFESTS = process.env['OMNI_MANIFESTS'] ?? 'manifests'

export function manifestsPath(p: string | undefined): string {
  return resolve(p ?? DEFAULT_MANIFESTS)
}

/** Prints an error the way a user can act on it (code, message, every problem) and exits 1. */
export function reportAndExit(err: unknown): never {
  if (isOmniError(err)) process.stderr.write(`${err.describe()}\n`)
  else process.stderr.write(`error: ${err instanceof Error ? err.message : String(err)}\n`)
  process.exit(1)
}

export function parseIntOption(name: string) {
  return (value: string): number => {
    const n = Number(value)
    if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a non-negative integer, got "${value}"`)
    return n
  }
}
