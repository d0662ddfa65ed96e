import type { Command } from 'commander'
import { registerStatus } from './status.ts'

/** `omni mesh …`: the node's place on the mesh. */
export function registerMesh(program: Command): void {
  const mesh = program.command('mesh').description('The mesh of nodes joined through NATS leaf nodes: peers, links, lag and traffic.')
  registerStatus(mesh)
}
