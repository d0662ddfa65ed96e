import type { Command } from 'commander'
import Docker from 'dockerode'
import { isOmniError, omniError } from '../../../../src/errors/mod.ts'
import { buildRunnerImage, RUNNER_IMAGE_NAME, type RunnerImageProgress } from '../../../../src/sandbox/container/mod.ts'
import { addPluginFlags, pluginSettingsFrom, type PluginCliOptions } from '../../../lib/plugin-options.ts'
import { say } from '../../../lib/output.ts'
import { progressBar } from '../../../lib/progress.ts'

const PING_TIMEOUT_MS = 10_000

/** `omni plugin image build`. */
export function registerBuild(image: Command): void {
  const build = image
    .command('build')
    .summary('build or reuse the container runner image; prints its reference by digest')
    .description(
      `Build the container runner image ${RUNNER_IMAGE_NAME} in the local Docker engine from this machine's Node binary (no registry), or reuse an identical one; ` +
        'prints its reference by digest (stdout, alone) to put in a container plugin\'s manifest: `omni plugin sign <dir> --key <file> --image <ref>`.',
    )
  addPluginFlags(build, ['dockerSocket']).action(async (opts: PluginCliOptions) => {
    const { dockerSocket } = pluginSettingsFrom(opts)
    const docker = new Docker({ socketPath: dockerSocket })
    try {
      // dockerode's types do not list the abortSignal its requests accept
      await (docker.ping as (opts: { abortSignal: AbortSignal }) => Promise<unknown>).call(docker, { abortSignal: AbortSignal.timeout(PING_TIMEOUT_MS) })
    } catch (cause) {
      throw omniError('OMNI_ERR_SANDBOX_UNAVAILABLE', `the Docker engine at ${dockerSocket} is not reachable (${(cause as Error).message}); start it, or point --docker-socket / $OMNI_DOCKER_SOCKET at its socket`, { cause })
    }
    const progress = createProgress()
    try {
      const built = await buildRunnerImage(docker, { onProgress: progress.report })
      progress.stop()
      process.stderr.write(`${progress.reused() ? 'reused' : 'built'} ${built.id}\nsign a container plugin with it: omni plugin sign <dir> --key <file> --image ${built.ref}\n`)
      say(built.ref)
    } catch (err) {
      progress.stop()
      if (isOmniError(err)) throw err
      throw omniError('OMNI_ERR_SANDBOX_UNAVAILABLE', `building the runner image in the Docker engine at ${dockerSocket} failed: ${(err as Error).message}`, { cause: err })
    }
  })
}

/** Progress on stderr: a bar for the import when stderr is a terminal, a line per phase otherwise. */
function createProgress() {
  let bar: ReturnType<typeof progressBar> | undefined
  let reused = false
  const tty = process.stderr.isTTY === true
  return {
    report(p: RunnerImageProgress): void {
      switch (p.type) {
        case 'hashing':
          process.stderr.write(`hashing ${p.files} files of the runner's root filesystem\n`)
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
