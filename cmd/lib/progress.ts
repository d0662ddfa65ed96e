import cliProgress from 'cli-progress'

/** A progress bar on stderr; silent when stderr is not a terminal (CI logs stay readable). */
export function progressBar(label: string, total: number): { increment(n?: number): void; update(n: number): void; stop(): void } {
  if (!process.stderr.isTTY) return { increment() {}, update() {}, stop() {} }
  const bar = new cliProgress.SingleBar(
    { format: `${label} [{bar}] {percentage}% | {value}/{total} | {eta_formatted} left`, stream: process.stderr, hideCursor: true },
    cliProgress.Presets.shades_classic,
  )
  bar.start(total, 0)
  return { increment: (n = 1) => bar.increment(n), update: (n) => bar.update(n), stop: () => bar.stop() }
}
