import type { Command } from 'commander'
import { registerCredentials } from './credentials.ts'
import { registerStatus } from './status.ts'

/** `omni mesh …`: joining nodes through NATS leaf nodes (docs/mesh.md), and seeing the mesh. */
export function registerMesh(program: Command): void {
  const mesh = program.command('mesh').description('The mesh: nodes and clusters joined through NATS leaf nodes (join with `omni up --mesh FILE`).')
  registerCredentials(mesh)
  registerStatus(mesh)
}
