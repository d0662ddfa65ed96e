import type { Command } from 'commander'
import { errors as natsErrors } from '@nats-io/transport-node'
import { omniError } from '../../../src/errors/mod.ts'
import { connectNats } from '../../../src/jetstream/connect.ts'
import type { MeshStatus, MeshView } from '../../../src/node/mod.ts'
import { MESH_STATUS_SUBJECT } from '../../../src/wire/mod.ts'
import { cliNatsCredentials } from '../../lib/nats-credentials.ts'
import { addEnvOption, NATS_URL, natsUrl } from '../../lib/options.ts'
import { formatTable } from '../../lib/output.ts'

/** How long the node may take to answer: it reads its inbox streams from JetStream. */
const ANSWER_MS = 5000

/** `omni mesh status`: asks the running node on its own server, as every other command reaches it. */
export function registerStatus(mesh: Command): void {
  addEnvOption(mesh.command('status').description("The node's peers (up/down since), its hub link, lag and last event per source, events and bytes in/out by visibility, refused events.").option('--json', 'print JSON'), NATS_URL, 'NATS server URL of the node').action(
    async (opts: { nats?: string; json?: boolean }) => {
      const view = await askNode(natsUrl(opts.nats))
      if (opts.json) process.stdout.write(`${JSON.stringify(view, null, 2)}\n`)
      else process.stdout.write(view.enabled ? formatMeshStatus(view) : 'this node is not on a mesh (start it with omni up --mesh FILE)\n')
    },
  )
}

async function askNode(url: string): Promise<MeshView> {
  const credentials = await cliNatsCredentials(url)
  const nc = await connectNats(url, { name: 'omni-cli', ...(credentials ? { credentials } : {}) })
  try {
    const reply = await nc.request(MESH_STATUS_SUBJECT, '', { timeout: ANSWER_MS }).catch((err: unknown) => {
      if (err instanceof natsErrors.NoRespondersError || (err instanceof Error && err.cause instanceof natsErrors.NoRespondersError)) {
        throw omniError('OMNI_ERR_UNAVAILABLE', `no running node answers on ${url} (is omni up running there?)`)
      }
      throw omniError('OMNI_ERR_UNAVAILABLE', `the node on ${url} did not answer its mesh status within ${ANSWER_MS} ms`, { cause: err })
    })
    const body = reply.json<MeshView | { error: string }>()
    if ('error' in body) throw omniError('OMNI_ERR_INTERNAL', `the node could not read its mesh status: ${body.error}`)
    return body
  } finally {
    await nc.drain().catch(() => undefined)
  }
}

const clock = (iso: string | undefined) => (iso ? iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '-')
const ago = (iso: string | undefined, now: number) => (iso ? `${Math.max(0, Math.round((now - Date.parse(iso)) / 1000))}s ago` : '-')

/** The human view: the node and its link, then peers, inboxes, traffic and refusals as tables. */
export function formatMeshStatus(s: MeshStatus): string {
  const now = Date.parse(s.checkedAt)
  const { node, link } = s
  let out = `node ${node.name}  cluster ${node.cluster}  role ${node.role}\n`
  const to = link.remote ? ` to ${link.remote}${link.rtt ? ` (rtt ${link.rtt})` : ''}` : ''
  out += link.state === 'none' ? 'hub link: none (a hub that joins no other hub)\n' : `hub link: ${link.state}${to} since ${clock(link.since)}  hubs ${node.hubs.join(', ') || '-'}\n`
  if (link.flapping) out += `WARNING: the hub dropped the link ${link.dropsLastMinute} times in the last minute: another server may be running as ${node.name}\n`
  if (node.role === 'hub') out += `leaves connected: ${link.leaves.join(', ') || 'none'}\n`
  for (const c of s.clashes) out += `WARNING: another process speaks as ${node.name} (instance ${c.instance}, started ${clock(c.startedAt)}, last heard ${ago(c.lastSeen, now)})\n`
  out += '\nPeers\n'
  out += s.peers.length === 0 ? '  none\n' : formatTable([['  NODE', 'CLUSTER', 'ROLE', 'STATE', 'SINCE', 'LAST SEEN'], ...s.peers.map((p) => [`  ${p.node}${p.configured ? '' : ' (not a peer)'}`, p.cluster, p.role ?? '-', p.state, clock(p.since), ago(p.lastSeen, now)])])
  out += '\nSources (inbox per peer)\n'
  const rows = s.inboxes.flatMap((i) =>
    !i.exists ? [[`  ${i.peer}`, '-', '-', '-', '-', String(i.resets), 'no inbox stream yet']] : i.sources.length === 0 ? [[`  ${i.peer}`, '-', '-', '-', ago(i.lastReceived, now), String(i.resets), '']] : i.sources.map((src) => [`  ${i.peer}`, src.visibility, String(src.lag), src.activeSecondsAgo === undefined ? '-' : `${src.activeSecondsAgo}s ago`, ago(i.lastReceived, now), String(i.resets), src.error ?? '']),
  )
  out += rows.length === 0 ? '  none\n' : formatTable([['  PEER', 'VISIBILITY', 'LAG', 'ACTIVE', 'LAST EVENT', 'RESETS', 'ERROR'], ...rows])
  out += '\nTraffic since start\n'
  const dirs = ['out', 'in'] as const
  out += formatTable([['  DIRECTION', 'VISIBILITY', 'EVENTS', 'BYTES'], ...dirs.flatMap((d) => (['cluster', 'public'] as const).map((v) => [`  ${d}`, v, String(s.traffic.events[d]?.[v] ?? 0), String(s.traffic.bytes[d]?.[v] ?? 0)]))])
  const refused = Object.entries(s.traffic.refused).flatMap(([peer, reasons]) => Object.entries(reasons).map(([reason, n]) => [`  ${peer}`, reason, String(n)]))
  out += '\nRefused received events\n'
  out += refused.length === 0 ? '  none\n' : formatTable([['  PEER', 'REASON', 'EVENTS'], ...refused])
  return out
}
