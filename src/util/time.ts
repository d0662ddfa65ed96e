/** An ISO timestamp without milliseconds, the form manifests, grants and revocation lists are written in. */
export function isoSeconds(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z')
}
