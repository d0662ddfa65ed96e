import type { Command } from 'commander'
import { registerApprove } from './plugin-approve.ts'
import { registerImage } from './plugin-image.ts'
import { registerKeygen } from './plugin-keys.ts'
import { registerList } from './plugin-list.ts'
import { registerRegistry } from './plugin-registry.ts'
import { registerSigning } from './plugin-sign.ts'
import { registerRevoke } from './plugin-trust.ts'
import { registerVerify } from './plugin-verify.ts'

/** `omni plugin …`: keys and trust, signing, verification, the registry, approvals, the runner image. */
export function registerPlugin(program: Command): void {
  const plugin = program
    .command('plugin')
    .description(
      'Signed third-party stages: make keys and a trust store, sign and verify plugin folders, publish to and install from the cluster registry, approve capabilities, revoke keys and versions, promote tiers, build the container runner image.',
    )
  registerKeygen(plugin)
  registerSigning(plugin)
  registerVerify(plugin)
  registerRegistry(plugin)
  registerList(plugin)
  registerApprove(plugin)
  registerRevoke(plugin)
  registerImage(plugin)
}
