import { connect } from 'node:net'
import type { JetStreamManager } from '@nats-io/jetstream'
import { omniError } from '../errors/mod.ts'
import type { Logger } from '../observability/logger.ts'
import type { ManagedNatsServer } from '../server/mod.ts'
import type { MeshConfig } from './config.ts'

/**
 * Start-time checks of a mesh node, so a wrong hub URL or a refused login is a clear error at
 * `omni up` instead of a leaf link that silently retries forever. The node calls them around the
 * start of its nats-server (src/node/node.ts).
 */

/** How long a hub gets to accept a TCP connection before it counts as unreachable. */
export const HUB_CONNECT_TIMEOUT_MS = 2_000
/** How long the leaf link gets to come up once the node's server runs. */
export const HUB_LINK_TIMEOUT_MS = 5_000

/** Why a TCP connection to a hub URL failed, or undefined when it was accepted. */
export async function tcpProblem(url: string, timeoutMs = HUB_CONNECT_TIMEOUT_MS): Promise<string | undefined> {
  const { hostname, port } = new URL(url)
  const host = hostname.replace(/^\[(.*)\]$/, '$1')
  return new Promise((resolve) => {
    const socket = connect({ host, port: Number(port) })
    const done = (problem: string | undefined) => {
      clearTimeout(timer)
      socket.destroy()
      resolve(problem)
    }
    const timer = setTimeout(() => done(`no answer within ${timeoutMs} ms (timeout)`), timeoutMs)
    socket.once('connect', () => done(undefined))
    socket.once('error', (err: NodeJS.ErrnoException) => done(err.code ?? err.message))
  })
}

/**
 * Before the node's server starts: at least one hub URL must accept a connection. When none
 * does, OMNI_ERR_MESH_HUB_UNREACHABLE names each URL and why; with `startOffline` a warning
 * instead (the leaf link keeps trying by itself). True when a hub answered.
 */
export async function checkHubsReachable(mesh: MeshConfig, logger: Logger, timeoutMs = HUB_CONNECT_TIMEOUT_MS): Promise<boolean> {
  if (mesh.hubs.length === 0) return false
  const results = await Promise.all(mesh.hubs.map(async (url) => ({ url, problem: await tcpProblem(url, timeoutMs) })))
  if (results.some((r) => r.problem === undefined)) return true
  const detail = results.map((r) => `${r.url}: ${r.problem}`).join('; ')
  if (mesh.startOffline) {
    logger.warn({ hubs: results }, `no hub of mesh node ${mesh.node} answers (${detail}); starting offline, the leaf link connects once a hub is up`)
    return false
  }
  throw omniError('OMNI_ERR_MESH_HUB_UNREACHABLE', `no hub of mesh node ${mesh.node} answers: ${detail}. Start the hub first, fix the URL, or set startOffline: true (--mesh-start-offline) to start without it`)
}

/** True when the server's leaf link to its hub (one it solicited, `is_spoke`) is up, from /leafz. */
export async function hubLinkUp(monitorUrl: string): Promise<boolean> {
  try {
    const res = await fetch(`${monitorUrl}/leafz`, { signal: AbortSignal.timeout(1_000) })
    const body = (await res.json()) as { leafs?: { is_spoke?: boolean }[] }
    return (body.leafs ?? []).some((l) => l.is_spoke === true)
  } catch {
    return false
  }
}

/**
 * After the node's server started: waits (bounded) for the leaf link to the hub. When it does
 * not come up and the server logged "Authorization Violation", the hub refused this node's
 * login: OMNI_ERR_MESH_CREDENTIALS_REFUSED naming the credentials file and the hub. Any other
 * reason is a warning: the link keeps trying.
 */
export async function awaitHubLink(mesh: MeshConfig, server: Pick<ManagedNatsServer, 'monitorUrl' | 'logLines'>, logger: Logger, timeoutMs = HUB_LINK_TIMEOUT_MS): Promise<void> {
  if (mesh.hubs.length === 0 || !server.monitorUrl) return
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await hubLinkUp(server.monitorUrl)) return
    await new Promise((r) => setTimeout(r, 100))
  }
  const lines = await server.logLines()
  const refused = lines.some((l) => l.includes('Authorization Violation'))
  const hubs = mesh.hubs.join(', ')
  if (refused) {
    const file = mesh.credentialsFile ?? 'its credentials'
    throw omniError(
      'OMNI_ERR_MESH_CREDENTIALS_REFUSED',
      `the hub at ${hubs} refused mesh node ${mesh.node}'s login (user "${mesh.credentials?.user}" from ${file}): the hub must list ${mesh.node} among its members with this same file (\`omni mesh credentials ${mesh.node} --out FILE\` makes one)`,
    )
  }
  logger.warn({ hubs: mesh.hubs, log: lines.filter((l) => /leaf/i.test(l)).slice(-5) }, `the leaf link of mesh node ${mesh.node} to ${hubs} is not up after ${timeoutMs} ms; it keeps trying`)
}

/**
 * A node on a mesh given an existing server (`nats.url`) cannot write that server's config: the
 * operator does (docs/mesh-A.md). It runs only when the server's JetStream domain is the node's
 * name, since every mesh name assumes it; otherwise OMNI_ERR_CONFIG says what to set.
 */
export async function checkExternalServer(mesh: MeshConfig, jsm: JetStreamManager, url: string, logger: Logger): Promise<void> {
  const info = await jsm.getAccountInfo()
  const domain = info.domain
  if (domain !== mesh.node) {
    throw omniError(
      'OMNI_ERR_CONFIG',
      `mesh node ${mesh.node} uses the NATS server at ${url}, whose JetStream domain is ${domain === undefined ? 'not set' : `"${domain}"`}; it must be "${mesh.node}", with the leaf-node settings and permissions of docs/mesh.md. Without --nats the node starts its own server and writes them itself`,
    )
  }
  logger.warn({ url, node: mesh.node }, `mesh node ${mesh.node} runs on an existing NATS server (${url}): its leaf-node link, users and permissions are that server's own config, not written by this node; the hub link is not checked`)
}
