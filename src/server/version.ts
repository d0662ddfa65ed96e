/** The oldest nats-server Omni Fabric runs on: 2.9 lacks multi-filter consumers and metadata. */
export const MIN_NATS_VERSION = '2.10.0'

/** How to get a supported server, appended to every "missing" or "too old" error. */
export const SETUP_HINT =
  'run `make setup` (it provisions nats-server 2.10+ into .tools/nats), or set OMNI_NATS_SERVER to a 2.10+ binary'

export interface SemVer {
  readonly major: number
  readonly minor: number
  readonly patch: number
}

/** Finds the first `x.y.z` in text such as `nats-server: v2.10.27` or `2.11.0-beta.1`. */
export function parseVersion(text: string): SemVer | undefined {
  const m = /(\d+)\.(\d+)\.(\d+)/.exec(text)
  if (!m) return undefined
  return { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3]) }
}

export function formatVersion(v: SemVer): string {
  return `${v.major}.${v.minor}.${v.patch}`
}

/** True when `v` is the same as or newer than `min`. */
export function atLeast(v: SemVer, min: SemVer): boolean {
  if (v.major !== min.major) return v.major > min.major
  if (v.minor !== min.minor) return v.minor > min.minor
  return v.patch >= min.patch
}

const MIN = parseVersion(MIN_NATS_VERSION) as SemVer

/** From this version on, consumers with several filter subjects deliver as fast as single-filter ones. */
export const FAST_MULTI_FILTER_VERSION = '2.11.0'

/** True when a server version has the slow multi-filter consumers of 2.10 (measured ~100× slower). */
export function hasSlowMultiFilter(version: string): boolean {
  const v = parseVersion(version)
  return v !== undefined && !atLeast(v, parseVersion(FAST_MULTI_FILTER_VERSION) as SemVer)
}

/** True when a version string is at least {@link MIN_NATS_VERSION}; false when unparseable. */
export function isSupportedVersion(version: string): boolean {
  const v = parseVersion(version)
  return v !== undefined && atLeast(v, MIN)
}
