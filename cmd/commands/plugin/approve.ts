import { stat } from 'node:fs/promises'
import { hostname, userInfo } from 'node:os'
import { join, resolve } from 'node:path'
import { createInterface } from 'node:readline/promises'
import type { Command } from 'commander'
import { omniError } from '../../../src/errors/mod.ts'
import type { PluginHostOptions } from '../../../src/node/mod.ts'
import type { Approval, VerifiedPlugin } from '../../../src/plugins/mod.ts'
import { addPluginFlags, pluginSettingsFrom, type PluginCliOptions } from '../../lib/plugin-options.ts'
import { addEnvOption, NATS_URL, natsUrl } from '../../lib/options.ts'
import { say } from '../../lib/output.ts'
import { isPluginId } from '../../lib/parse.ts'
import { withNodeClient } from '../../lib/session.ts'
import { describeKey } from '../../lib/trust.ts'

interface ApproveOptions extends PluginCliOptions {
  yes?: boolean
  nats?: string
  data: string
}

/** `omni plugin approve`. */
export function registerApprove(plugin: Command): void {
  const cmd = plugin
    .command('approve')
    .summary('review a plugin\'s capabilities and approve them for the cluster')
    .description(
      'Approve a plugin\'s capabilities for the whole cluster: verifies it, shows its runtime, emit subjects and limits and what widened since the previous approval, asks for confirmation (or --yes), then records the approval. ' +
        'The approval is bound to the plugin id, its signing key, its tier and its capabilities, and records the approver as `cli:<OS user>@<host>` (no name is typed). ' +
        'Nodes refuse a plugin that asks for anything beyond its approval, or is signed by another key or at another tier (OMNI_ERR_PLUGIN_APPROVAL).',
    )
    .argument('<dir|id>', 'a plugin folder, or the id of an installed plugin (<plugins>/<id>)')
    .option('--yes', 'approve without asking (needed when stdin is not a terminal)')
  addEnvOption(cmd, NATS_URL, 'NATS server URL')
  addPluginFlags(cmd, ['plugins', 'trust', 'cluster', 'data']).action(async (target: string, opts: ApproveOptions) => {
    const by = cliApprover()
    const settings = pluginSettingsFrom(opts)
    const dir = { dir: await pluginFolder(target, settings) }
    await withNodeClient({ natsUrl: natsUrl(opts.nats), plugins: settings }, async ({ plugins }) => {
      const { plugin: v, previous, widened } = await plugins.review(dir)
      const m = v.manifest
      say(`${m.id}@${m.version} serial ${m.serial}, tier ${m.tier}, digest sha256:${v.digest}`)
      say(`signed by ${describeKey(await plugins.trust(), v.keyid)}`)
      for (const line of capabilityLines(v)) say(line)
      for (const line of previousLines(previous, widened)) say(line)
      if (!opts.yes) {
        if (!process.stdin.isTTY) throw omniError('OMNI_ERR_CONFIG', `${m.id}@${m.version} was not approved: stdin is not a terminal; pass --yes to approve without a prompt`)
        if (!(await confirm(`approve these capabilities of ${m.id} as ${by}? [y/N] `))) throw omniError('OMNI_ERR_PLUGIN_APPROVAL', `${m.id}@${m.version} was not approved: declined at the prompt`)
      }
      // the digest reviewed: a folder changed since the prompt is refused, not approved unseen
      const { approval } = await plugins.approve(dir, { by, digest: v.digest })
      say(`approved ${m.id}@${m.version} (serial ${approval.serial}) by ${approval.by} at ${approval.at}`)
    })
  })
}

/** Who approves from the CLI: the OS user running it, on this host (not a name the caller types). */
function cliApprover(): string {
  return `cli:${userInfo().username}@${hostname()}`
}

/** A folder given as such, else `<plugins>/<id>` for an installed plugin's id. */
async function pluginFolder(target: string, settings: PluginHostOptions): Promise<string> {
  const asPath = resolve(target)
  if ((await stat(asPath).catch(() => undefined))?.isDirectory()) return asPath
  if (isPluginId(target)) {
    const installed = join(settings.dir, target)
    if ((await stat(installed).catch(() => undefined))?.isDirectory()) return installed
    throw omniError('OMNI_ERR_CONFIG', `${target} is not installed in ${settings.dir} (and ./${target} is not a folder); install it with \`omni plugin install ${target}@<version>\` or pass its folder`)
  }
  throw omniError('OMNI_ERR_CONFIG', `"${target}" is neither a plugin folder nor a plugin id (like acme.shout)`)
}

function capabilityLines(v: VerifiedPlugin): string[] {
  const c = v.manifest.capabilities
  return [
    'capabilities:',
    `  runtime    ${v.manifest.runtime}`,
    `  emit       ${c.emit.length > 0 ? c.emit.join(', ') : '(nothing)'}`,
    `  memoryMb   ${c.memoryMb}`,
    `  timeoutMs  ${c.timeoutMs}`,
    `  cpus       ${c.cpus}`,
    `  pids       ${c.pids}`,
    `  network    ${c.network}`,
  ]
}

function previousLines(previous: Approval | undefined, widened: readonly string[]): string[] {
  if (!previous) return ['previous approval: none (first approval of this id)']
  const head = `previous approval: by ${previous.approvedBy} at ${previous.approvedAt}, version ${previous.version}, serial ${previous.serial}`
  if (widened.length === 0) return [head, 'widened since then: nothing (equal or narrower)']
  return [head, 'widened since then:', ...widened.map((w) => `  ${w}`)]
}

async function confirm(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr })
  try {
    return /^y(es)?$/i.test((await rl.question(question)).trim())
  } finally {
    rl.close()
  }
}
