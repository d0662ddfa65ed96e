import { isOmniError } from '../../src/errors/mod.ts'

/** Writes one line to stdout. */
export function say(line = ''): void {
  process.stdout.write(`${line}\n`)
}

/** Prints an error the way a user can act on it (code, message, every problem) and exits 1. */
export function reportAndExit(err: unknown): never {
  if (isOmniError(err)) process.stderr.write(`${err.describe()}\n`)
  else process.stderr.write(`error: ${err instanceof Error ? err.message : String(err)}\n`)
  process.exit(1)
}

/**
 * Left-aligned columns two spaces apart; the last column is not padded. Control characters in
 * cells (recorded data, so anyone's) are replaced: they could move the cursor or recolour the terminal.
 */
export function formatTable(rows: readonly (readonly string[])[]): string {
  const clean = rows.map((r) => r.map((cell) => cell.replace(/[\u0000-\u001f\u007f-\u009f]/g, '\ufffd')))
  const widths: number[] = []
  for (const r of clean) r.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)))
  return clean.map((r) => `${r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  ')}\n`).join('')
}
