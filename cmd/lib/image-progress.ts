import type { RootfsImageProgress } from '../../src/rootfs/mod.ts'
import { progressBar } from './progress.ts'

/**
 * Progress of an image build on stderr: a bar for the import when stderr is a terminal, a line
 * per phase otherwise (CI logs stay readable). `what` names the image in those lines.
 */
export function imageBuildProgress(what: string) {
  let bar: ReturnType<typeof progressBar> | undefined
  let reused = false
  const tty = process.stderr.isTTY === true
  return {
    report(p: RootfsImageProgress): void {
      switch (p.type) {
        case 'hashing':
          process.stderr.write(`hashing ${p.files} files of the ${what}'s root filesystem\n`)
          return
        case 'reused':
          reused = true
          return
        case 'importing':
          if (!bar) {
            if (!tty) process.stderr.write(`importing ${(p.totalBytes / 1024 / 1024).toFixed(0)} MiB into the engine\n`)
            bar = progressBar('importing', p.totalBytes)
          }
          bar.update(p.bytes)
          return
        case 'built':
          return
      }
    },
    stop: () => bar?.stop(),
    reused: () => reused,
  }
}
