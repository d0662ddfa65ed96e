import { resolve } from 'node:path'
import type { Command } from 'commander'
import { omniError } from '../../../src/errors/mod.ts'
import { createNatsCredentialsFile } from '../../../src/server/mod.ts'
import { MESH_NAME_RE } from '../../../src/wire/mod.ts'
import { say } from '../../lib/output.ts'

/** `omni mesh credentials <node> --out FILE`: a new login for a node at its hub. */
export function registerCredentials(mesh: Command): void {
  mesh
    .command('credentials')
    .summary("make a node's login at its hub")
    .description(
      'Write a new login for <node> at its hub to --out: {"user":"<node>","password":"<256 random bits>"}, mode 0600, never overwriting a file. ' +
        'The node names the file in `credentials:` (or --mesh-credentials); its hub lists the same file in `members:` (or --mesh-member <node>@<cluster>=<file>). ' +
        'Copy it to the hub over a channel you trust: whoever holds it can join the mesh as <node>.',
    )
    .argument('<node>', "the node's mesh name: a lower-case letter, then up to 31 lower-case letters, digits or -")
    .requiredOption('--out <file>', 'where to write it')
    .action(async (node: string, opts: { out: string }) => {
      if (!MESH_NAME_RE.test(node)) throw omniError('OMNI_ERR_CONFIG', `"${node}" is not a mesh node name: a lower-case letter, then up to 31 lower-case letters, digits or -`)
      const file = resolve(opts.out)
      try {
        await createNatsCredentialsFile(file, node)
      } catch (cause) {
        if ((cause as NodeJS.ErrnoException).code === 'EEXIST') throw omniError('OMNI_ERR_CONFIG', `${file} already exists; a login in use is never replaced (remove it first to make a new one)`, { cause })
        throw omniError('OMNI_ERR_CONFIG', `cannot write ${file}: ${(cause as Error).message}`, { cause })
      }
      say(`credentials for ${node} in ${file} (mode 0600)`)
    })
}
