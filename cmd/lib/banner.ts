import type { MeshConfig } from '../../src/mesh/config.ts'
import type { OmniNode } from '../../src/node/mod.ts'

/** What `omni up` prints once the node runs: where everything is and how to try it, in one write. */
export function banner(node: OmniNode, opts: { api: { url: string; tokens: string } | undefined; plugins: { dir: string; trust: string; cluster: string }; natsCredentials?: string; mesh?: MeshConfig }): string {
  const d = node.describe()
  const lines: string[] = ['Omni Fabric is running']
  const managed = d.nats.managed
  lines.push(`  NATS        ${d.nats.url}${managed ? ` (local nats-server ${managed.version}, pid ${managed.pid}, data in ${managed.storeDir})` : ''}${opts.natsCredentials ? `; credentials in ${opts.natsCredentials}` : ''}`)
  if (opts.mesh) lines.push(`  mesh        ${meshLine(opts.mesh)}`)
  const ch = d.clickhouse
  lines.push(`  ClickHouse  ${ch ? `${ch.description}, database ${ch.database} (events kept ${ch.eventsRetentionDays} d, raw payloads ${ch.rawRetentionDays} d)` : 'off (--no-clickhouse)'}`)
  lines.push(`  API         ${opts.api ? `${opts.api.url} (docs ${opts.api.url}/docs; ${opts.api.tokens})` : 'off (--no-api)'}`)
  lines.push(`  manifests   ${d.manifests}${d.watching ? ' (watching for changes)' : ''}`)
  const installed = node.catalog.actions().plugins
  const plugins = installed.map((p) => (p.state === 'rejected' ? `${p.id} (rejected)` : `${p.id} ${p.version} ${p.runtime}/${p.tier}${p.state === 'running' ? ' running' : ''}`))
  lines.push(`  plugins     ${opts.plugins.dir}: ${plugins.join(', ') || 'none'}; trust ${opts.plugins.trust}, cluster ${opts.plugins.cluster}`)
  lines.push(`  event types ${node.catalog.declared().map((e) => e.type).join(', ') || 'none'}`)
  for (const w of node.ingest.webhooks().list()) {
    const where = opts.api ? `${opts.api.url}/v1/webhooks/${w.name}/${w.instances === 'any' ? '<instance>' : `{${w.instances.join(',')}}`}` : '(API off)'
    lines.push(`  webhook     ${w.name}: ${w.adapter.name} at ${where}, ${w.auth ? `${w.auth.type} auth` : 'bearer token with the ingest scope'}`)
  }
  for (const p of node.pipelines.list()) {
    lines.push(`  pipeline    ${p.name}: ${p.sources.join(', ')}`)
    const levels: string[][] = []
    for (const s of p.stages) (levels[s.level] ??= []).push(`${s.id}(${s.uses})`)
    lines.push(`              ${levels.map((l) => l.join(' | ')).join(' → ')}`)
  }
  lines.push(`Try: omni publish message.received '{"kind":"text","text":"hello","providerMessageId":"m1","fromSelf":false,"forwarded":false}' --provider whatsapp --instance phone-1`)
  lines.push(`     omni tail        (in another terminal)      Stop with Ctrl-C.`)
  return `${lines.join('\n')}\n`
}

/** Who this node is on the mesh and whom it links to, in one line. */
function meshLine(m: MeshConfig): string {
  const parts = [`${m.node} (${m.role} of cluster ${m.cluster}, JetStream domain ${m.node})`]
  if (m.listen) parts.push(`leaf nodes connect to ${m.listen.host}:${m.listen.port}`)
  if (m.members.length > 0) parts.push(`members ${m.members.map((x) => (x.cluster === m.cluster ? x.node : `${x.node} (cluster ${x.cluster}, public only)`)).join(', ')}`)
  if (m.hubs.length > 0) parts.push(`${m.role === 'hub' ? 'federated with' : 'hub'} ${m.hubs.join(', ')}${m.credentialsFile ? ` (login in ${m.credentialsFile})` : ''}`)
  parts.push(`peers ${m.peers.map((p) => p.node).join(', ') || 'none'}`)
  return parts.join('; ')
}
