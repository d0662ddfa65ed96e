import { execFile } from 'node:child_process'
import { promisify } from 'node:util'

const exec = promisify(execFile)

/**
 * The absolute paths `ldd` prints for a binary or shared object (the dynamic loader included);
 * none for a static binary such as nats-server. Throws naming the binary and the missing library.
 */
export async function sharedLibraries(binary: string): Promise<string[]> {
  let stdout: string
  try {
    ;({ stdout } = await exec('ldd', [binary]))
  } catch (err) {
    // ldd exits 1 on a static binary, saying so
    const out = `${(err as { stdout?: string }).stdout ?? ''}${(err as { stderr?: string }).stderr ?? ''}`
    if (/not a dynamic executable|statically linked/.test(out)) return []
    throw new Error(`cannot list the libraries of ${binary} with ldd: ${(err as Error).message}`, { cause: err })
  }
  const libs = new Set<string>()
  for (const line of stdout.split('\n')) {
    if (line.includes('not found')) throw new Error(`ldd ${binary}: ${line.trim()}`)
    const path = /(?:=>\s*)?(\/\S+)\s+\(0x/.exec(line)?.[1]
    if (path) libs.add(path)
  }
  return [...libs].sort()
}
