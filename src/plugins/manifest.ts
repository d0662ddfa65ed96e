import { hasCode, isOmniError, omniError, type Problem } from '../errors/mod.ts'
import { checkAgainstSchema, problemAt } from '../yaml/check.ts'
import { parseYamlManifest, type YamlManifest } from '../yaml/yaml.ts'
import type { SandboxLimits } from '../sandbox/types.ts'
import {
  DEFAULT_CPUS,
  DEFAULT_PIDS,
  PluginManifestSchema,
  type PluginCapabilities,
  type PluginManifest,
} from './manifest-schema.ts'
import { bundlePathProblem } from './paths.ts'
import { mayRunInProcess } from './tiers.ts'

/**
 * Parses and checks a plugin manifest (YAML or JSON, duplicate keys refused): the schema, then
 * the rules that span fields. Every problem is located at `source:line:col` and names its field
 * path; the first one is repeated in the message. Returns the manifest frozen, defaults applied.
 */
export function parsePluginManifest(bytes: Uint8Array | string, source: string): PluginManifest {
  const text = typeof bytes === 'string' ? bytes : decodeUtf8(bytes, source)
  let yaml: YamlManifest
  try {
    yaml = parseYamlManifest(source, text)
  } catch (err) {
    if (isOmniError(err) && hasCode(err, 'OMNI_ERR_YAML')) throw invalid(source, err.problems, err)
    throw err
  }
  const schemaProblems = checkAgainstSchema(yaml, PluginManifestSchema, yaml.value)
  if (schemaProblems.length > 0) throw invalid(source, schemaProblems)
  const raw = yaml.value as PluginManifest
  const ruleProblems = checkRules(yaml, raw)
  if (ruleProblems.length > 0) throw invalid(source, ruleProblems)
  return deepFreeze({
    ...raw,
    capabilities: { ...raw.capabilities, cpus: raw.capabilities.cpus ?? DEFAULT_CPUS, pids: raw.capabilities.pids ?? DEFAULT_PIDS, network: 'none' },
  })
}

/** The limits a sandbox enforces for these capabilities. */
export function sandboxLimits(caps: PluginCapabilities): SandboxLimits {
  return { memoryMb: caps.memoryMb, timeoutMs: caps.timeoutMs, cpus: caps.cpus, pids: caps.pids }
}

/** Why an image reference is not pinned by digest, or undefined when it is. */
export function imageProblem(image: string): string | undefined {
  const at = image.indexOf('@')
  const name = at < 0 ? image : image.slice(0, at)
  const lastSegment = name.slice(name.lastIndexOf('/') + 1)
  if (at < 0) {
    const why = 'a tag can be moved to other code after signing; pin the image by digest: name@sha256:<64 hex>'
    return lastSegment.includes(':') ? `"${image}" names a tag, not a digest; ${why}` : `"${image}" has no digest; ${why}`
  }
  if (lastSegment.includes(':')) return `"${image}" names both a tag and a digest; drop the tag (name@sha256:<64 hex>), which only misleads readers`
  if (!/^[a-z0-9][a-z0-9._/:-]*$/.test(name)) return `"${image}" has an invalid image name "${name}"`
  if (!/^sha256:[0-9a-f]{64}$/.test(image.slice(at + 1))) return `"${image}" has an invalid digest; expected sha256:<64 lowercase hex>`
  return undefined
}

/** Why `pattern` is not a NATS subject pattern under `omni.`, or undefined when it is. */
export function emitPatternProblem(pattern: string): string | undefined {
  const tokens = pattern.split('.')
  if (tokens[0] !== 'omni') return `"${pattern}" is outside omni.*; plugins may only publish to omni subjects`
  for (const [i, t] of tokens.entries()) {
    if (t === '>' && i !== tokens.length - 1) return `"${pattern}" has ">" before its last token`
    if (t !== '*' && t !== '>' && !/^[A-Za-z0-9_-]+$/.test(t)) return `"${pattern}" has an invalid token "${t}"`
  }
  return undefined
}

function checkRules(yaml: YamlManifest, m: PluginManifest): Problem[] {
  const problems: Problem[] = []
  const at = (path: (string | number)[], message: string) => problems.push(problemAt(yaml, path, message))
  const seen = new Set<string>()
  m.entry.files.forEach((f, i) => {
    const why = bundlePathProblem(f.path)
    if (why) at(['entry', 'files', i, 'path'], why)
    if (seen.has(f.path)) at(['entry', 'files', i, 'path'], `"${f.path}" is listed twice`)
    seen.add(f.path)
  })
  if (!seen.has(m.entry.main)) at(['entry', 'main'], `"${m.entry.main}" is not one of entry.files[].path (${[...seen].join(', ')})`)
  if (m.runtime === 'container' && m.image === undefined) at(['image'], 'is required for runtime container (name@sha256:<64 hex>)')
  if (m.runtime !== 'container' && m.image !== undefined) at(['image'], `is only allowed for runtime container, not ${m.runtime}`)
  if (m.image !== undefined) {
    const why = imageProblem(m.image)
    if (why) at(['image'], why)
  }
  if (m.runtime === 'inprocess' && !mayRunInProcess(m.tier)) {
    at(['runtime'], `inprocess runs without a sandbox and is only allowed for tiers core and verified, not ${m.tier}; use isolate or container`)
  }
  m.capabilities.emit.forEach((p, i) => {
    const why = emitPatternProblem(p)
    if (why) at(['capabilities', 'emit', i], why)
  })
  const issued = Date.parse(m.issuedAt)
  const expires = Date.parse(m.expiresAt)
  if (Number.isNaN(issued)) at(['issuedAt'], `"${m.issuedAt}" is not a real date`)
  if (Number.isNaN(expires)) at(['expiresAt'], `"${m.expiresAt}" is not a real date`)
  if (expires <= issued) at(['expiresAt'], `${m.expiresAt} is not after issuedAt ${m.issuedAt}`)
  return problems
}

function invalid(source: string, problems: readonly Problem[], cause?: unknown) {
  const first = problems[0]
  const more = problems.length > 1 ? ` (and ${problems.length - 1} more)` : ''
  const detail = first ? `: ${first.where}: ${first.message}${more}` : ''
  return omniError('OMNI_ERR_PLUGIN_MANIFEST', `plugin manifest ${source} is invalid${detail}`, { problems, cause })
}

function decodeUtf8(bytes: Uint8Array, source: string): string {
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes)
  } catch (cause) {
    throw omniError('OMNI_ERR_PLUGIN_MANIFEST', `plugin manifest ${source} is not valid UTF-8`, { cause })
  }
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const v of Object.values(value)) deepFreeze(v)
    Object.freeze(value)
  }
  return value
}
