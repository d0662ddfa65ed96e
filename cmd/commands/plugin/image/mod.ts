import type { Command } from 'commander'
import { registerBuild } from './build.ts'

/** `omni plugin image …`: the container runner image. */
export function registerImage(plugin: Command): void {
  const image = plugin.command('image').summary('the container runner image (image build)').description('The container runner image that container plugins run in.')
  registerBuild(image)
}
