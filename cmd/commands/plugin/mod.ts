import type { Command } from 'commander'
import { registerApprove } from './approve.ts'
import { registerImage } from './image/mod.ts'
import { registerInstall } from './install.ts'
import { registerKeygen } from './keygen.ts'
import { registerList } from './list.ts'
import { registerPending } from './pending.ts'
import { registerPromote } from './promote.ts'
import { registerPublish } from './publish.ts'
import { registerRevoke } from './revoke.ts'
import { registerSign } from './sign.ts'
import { registerVerify } from './verify.ts'

/** `omni plugin …`: keys and trust, signing, verification, the registry, approvals, the runner image. */
export function registerPlugin(program: Command): void {
  const plugin = program
    .command('plugin')
    .description(
      'Signed third-party stages: make keys and a trust store, sign and verify plugin folders, publish to and install from the cluster registry, approve capabilities, revoke keys and versions, promote tiers, build the container runner image.',
    )
  // the order `omni plugin --help` lists them in
  registerKeygen(plugin)
  registerSign(plugin)
  registerPromote(plugin)
  registerVerify(plugin)
  registerPublish(plugin)
  registerInstall(plugin)
  registerList(plugin)
  registerApprove(plugin)
  registerPending(plugin)
  registerRevoke(plugin)
  registerImage(plugin)
}
