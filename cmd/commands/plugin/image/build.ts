import type { Command } from 'commander'
import { isOmniError, omniError } from '../../../../src/errors/mod.ts'
import { buildRunnerImage, RUNNER_IMAGE_NAME } from '../../../../src/sandbox/container/mod.ts'
import { reachableDocker } from '../../../lib/docker.ts'
import { imageBuildProgress } from '../../../lib/image-progress.ts'
import { addPluginFlags, pluginSettingsFrom, type PluginCliOptions } from '../../../lib/plugin-options.ts'
import { say } from '../../../lib/output.ts'

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
    const docker = await reachableDocker(dockerSocket, 'OMNI_ERR_SANDBOX_UNAVAILABLE')
    const progress = imageBuildProgress('runner')
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
