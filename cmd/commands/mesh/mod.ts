import type { Command } from 'commander'
import { registerCredentials } from './credentials.ts'

/** `omni mesh …`: joining nodes through NATS leaf nodes (docs/mesh.md). */
export function registerMesh(program: Command): void {
  const mesh = program.command('mesh').description('The mesh: nodes and clusters joined through NATS leaf nodes (join with `omni up --mesh FILE`).')
  registerCredentials(mesh)
}
