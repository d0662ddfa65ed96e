import type { Command } from 'commander'
import { registerBuild } from './build.ts'

/** `omni image …`: the platform's own container image. */
export function registerImage(program: Command): void {
  const image = program
    .command('image')
    .summary('the platform\'s container image (image build)')
    .description('The container image of the platform itself, for Docker and Kubernetes (docs/kubernetes.md).')
  registerBuild(image)
}
