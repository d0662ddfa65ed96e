/** Files of a bundle that are not code: the signed envelope and the readable copy of its payload. */
export const ENVELOPE_FILE = 'plugin.dsse.json'
export const MANIFEST_FILE = 'plugin.yaml'
export const RESERVED_FILES: ReadonlySet<string> = new Set([ENVELOPE_FILE, MANIFEST_FILE])

const MAX_PATH = 255

/**
 * Why `path` may not name a file inside a bundle, or undefined when it may. Paths are relative,
 * `/`-separated and plain: no `..`, `.` or empty segments, no backslash (a separator on Windows),
 * no control characters, so a path can never point outside the plugin's folder.
 */
export function bundlePathProblem(path: string): string | undefined {
  if (path === '') return 'is empty'
  if (path.length > MAX_PATH) return `is longer than ${MAX_PATH} characters`
  if (path.startsWith('/') || /^[A-Za-z]:/.test(path)) return `"${path}" is absolute; paths must be relative to the plugin folder`
  if (path.includes('\\')) return `"${path}" contains a backslash; use "/" between folders`
  if (/[\u0000-\u001f\u007f]/.test(path)) return `"${path}" contains a control character`
  const segments = path.split('/')
  if (segments.includes('..')) return `"${path}" contains "..", which could point outside the plugin folder`
  if (segments.includes('.')) return `"${path}" contains a "." segment; write the plain path`
  if (segments.includes('')) return `"${path}" has an empty segment (a leading, trailing or doubled "/")`
  if (RESERVED_FILES.has(path)) return `"${path}" is reserved for the signed manifest and cannot be a code file`
  return undefined
}
