import { AckPolicy, DeliverPolicy, type JsMsg } from '@nats-io/jetstream'
import type { Envelope } from '../envelope/schema.ts'
import { describeError, isOmniError } from '../errors/mod.ts'
import { prepareNodeEvent } from '../ingest/prepare.ts'
import { publishPrepared } from '../ingest/publish.ts'
import { EVENTS_STREAM } from '../jetstream/topology.ts'
import { startTrackedConsumer, type KeepAlive, type TrackedConsumer } from '../jetstream/tracked-consumer.ts'
import { meshMetrics } from '../observability/metrics.ts'
import type { VerifiedPlugin } from '../plugins/mod.ts'
import { NODE_ORIGIN } from '../wire/headers.ts'
import { parseMeshSubject, receivedFilter } from '../wire/mesh.ts'
import type { CartridgeBundle, CartridgeHost } from './cartridge-host.ts'
import { openPendingCartridges, type PendingCartridges } from './pending.ts'
import type { MeshDeps } from './runtime.ts'
import { isPassingFailure, refusalReason, sovereigntyLevel } from './sovereignty.ts'

/** The durable consumer of received cartridge events on the node's events stream. */
export const CARTRIDGES_CONSUMER = 'mesh-cartridges'
export const CARTRIDGE_PUBLISHED = 'cartridge.published'
export const CARTRIDGE_REVOKED = 'cartridge.revoked'
/** Installs reload the node: give a delivery time before it is redelivered (kept alive meanwhile). */
const ACK_WAIT_NS = 60_000 * 1_000_000
/** Before the node has wired its plugin service, a received cartridge waits this long and comes back. */
const NOT_READY_DELAY_MS = 1_000

export type CartridgeReceiverDeps = Pick<MeshDeps, 'mesh' | 'js' | 'jsm' | 'publisher' | 'catalog' | 'logger' | 'streams'> & {
  /** the node's plugin paths; throws until the node has them (the message is then retried) */
  readonly cartridgeHost: () => CartridgeHost
}

/**
 * Receives `cartridge.published` and `cartridge.revoked` events admitted from peers (on
 * `omni.rcv.…`): each cartridge gets the node's full verification, then its sovereignty level
 * (L1 queued for a person, L2 installed with a notification, L3 installed with an audit event);
 * a refused one is never installed or queued. Revocation lists are verified and adopted when newer.
 * One message at a time, in stream order, so a revocation is never overtaken by what it revokes.
 */
export async function startCartridgeReceiver(deps: CartridgeReceiverDeps): Promise<AsyncDisposable> {
  const pending = await openPendingCartridges(deps.js, deps.streams?.replicas !== undefined ? { replicas: deps.streams.replicas } : {})
  await deps.jsm.consumers.add(EVENTS_STREAM, {
    durable_name: CARTRIDGES_CONSUMER,
    description: 'Omni Fabric mesh: cartridges and revocation lists received from peers',
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    filter_subjects: [receivedFilter('*', '*', CARTRIDGE_PUBLISHED), receivedFilter('*', '*', CARTRIDGE_REVOKED)],
    ack_wait: ACK_WAIT_NS,
    max_ack_pending: 1,
    max_deliver: -1,
  })
  const audit = auditPublisher(deps)
  const handle = async (m: JsMsg, keepAlive: KeepAlive): Promise<void> => {
    const parts = parseMeshSubject(m.subject)
    const event = decodeEnvelope(m)
    if (!parts || !event) {
      deps.logger.warn({ subject: m.subject }, 'a received cartridge event is not an envelope on a received subject; dropped')
      return m.term('not a received envelope')
    }
    let host: CartridgeHost
    try {
      host = deps.cartridgeHost()
    } catch {
      return m.nak(NOT_READY_DELAY_MS)
    }
    // the subject's node is bound to the link it came over; the envelope's origin says the same for B's receiver
    const received: Received = { event, peer: parts.node, cluster: parts.cluster, origin: event.origin ?? parts.node }
    const work = event.type === CARTRIDGE_REVOKED ? receiveRevocation(received, host, audit) : receiveCartridge(received, host, pending, audit, deps)
    await keepAlive(m, work)
    m.ack()
  }
  const consumer: TrackedConsumer = await startTrackedConsumer({
    js: deps.js,
    stream: EVENTS_STREAM,
    consumer: CARTRIDGES_CONSUMER,
    pull: { max_messages: 1 },
    handle,
    onError: (m, err) => {
      deps.logger.warn({ err: describeError(err), subject: m.subject }, 'handling a received cartridge event failed; it is retried')
      m.nak(NOT_READY_DELAY_MS)
    },
  })
  return { [Symbol.asyncDispose]: () => consumer.close() }
}

/** A received envelope with an id and object data (the mesh receiver checked it against the catalog); undefined otherwise. */
function decodeEnvelope(m: JsMsg): (Envelope & { readonly data: Record<string, unknown> }) | undefined {
  let v: unknown
  try {
    v = m.json()
  } catch {
    return undefined
  }
  if (typeof v !== 'object' || v === null) return undefined
  const e = v as Envelope
  return typeof e.id === 'string' && typeof e.data === 'object' && e.data !== null && !Array.isArray(e.data) ? (e as Envelope & { readonly data: Record<string, unknown> }) : undefined
}

interface Received {
  readonly event: Envelope & { readonly data: Record<string, unknown> }
  /** the node the link brought it from (metrics label) */
  readonly peer: string
  readonly cluster: string
  readonly origin: string
}

type Audit = (type: string, data: Record<string, unknown>) => Promise<void>

async function receiveCartridge(r: Received, host: CartridgeHost, pending: PendingCartridges, audit: Audit, deps: CartridgeReceiverDeps): Promise<void> {
  const data = r.event.data
  const ref = { id: String(data['id'] ?? ''), version: String(data['version'] ?? '') }
  const base = { event: r.event.id, origin: r.origin }
  const refuse = async (err: unknown) => {
    if (!isOmniError(err) || isPassingFailure(err.code, err.message)) throw err
    const reason = refusalReason(err.code, err.message)
    meshMetrics.refused.inc({ peer: r.peer, reason })
    deps.logger.warn({ peer: r.peer, plugin: `${ref.id}@${ref.version}`, reason, err: err.message }, 'refused a cartridge received from the mesh')
    await audit('cartridge.refused', { ...base, reason, code: err.code, message: err.message.slice(0, 4096), id: ref.id, version: ref.version })
  }
  const bundle = data['bundle'] as CartridgeBundle
  let v: VerifiedPlugin
  try {
    v = await host.check(bundle, ref)
  } catch (err) {
    return refuse(err)
  }
  // the event's summary must be what the signed bytes say; a mismatch is someone's edit
  const claimed = { serial: data['serial'], tier: data['tier'], keyid: data['keyid'], digest: data['digest'] }
  const actual = { serial: v.manifest.serial, tier: v.manifest.tier, keyid: v.keyid, digest: v.digest }
  const differs = (Object.keys(claimed) as (keyof typeof claimed)[]).filter((k) => claimed[k] !== actual[k])
  if (differs.length > 0) {
    const reason = 'cartridge-tampered'
    meshMetrics.refused.inc({ peer: r.peer, reason })
    const message = `${ref.id}@${ref.version}: the event's ${differs.join(', ')} differ from the signed bundle's`
    return audit('cartridge.refused', { ...base, reason, code: 'OMNI_ERR_PLUGIN_SIGNATURE', message, id: ref.id, version: ref.version })
  }
  const level = sovereigntyLevel(deps.mesh.sovereignty, v.keyid, v.manifest.tier)
  const summary = { ...base, id: v.manifest.id, version: v.manifest.version, serial: v.manifest.serial, tier: v.manifest.tier, keyid: v.keyid, digest: v.digest, level }
  if (level === 'L1') {
    const { runtime, capabilities } = v.manifest
    await pending.put({
      id: v.manifest.id,
      version: v.manifest.version,
      serial: v.manifest.serial,
      tier: v.manifest.tier,
      keyid: v.keyid,
      signer: v.signer,
      digest: v.digest,
      origin: r.origin,
      cluster: r.cluster,
      event: r.event.id,
      receivedAt: new Date().toISOString(),
      runtime,
      capabilities: { ...capabilities },
      bundle,
    })
    return audit('cartridge.pending', summary)
  }
  const by = `mesh:${level}:${r.origin}`
  try {
    await host.install(bundle, ref, by)
  } catch (err) {
    return refuse(err)
  }
  await audit('cartridge.installed', { ...summary, by })
}

async function receiveRevocation(r: Received, host: CartridgeHost, audit: Audit): Promise<void> {
  const data = r.event.data
  const base = { event: r.event.id, origin: r.origin }
  try {
    const adopted = await host.adoptRevocations(Buffer.from(String(data['envelope']), 'base64'), `cartridge.revoked ${r.event.id} from ${r.origin}`)
    if (adopted.type === 'kept') return
    const addedYanks = adopted.addedYanks.map((y) => `${y.id}@${y.version}`)
    await audit('cartridge.revocations-adopted', { ...base, issuedAt: adopted.issuedAt, addedKeys: [...adopted.addedKeys], addedYanks, stopped: [...adopted.stopped] })
  } catch (err) {
    if (!isOmniError(err) || isPassingFailure(err.code, err.message)) throw err
    const reason = `cartridge-revocations-${refusalReason(err.code, err.message).slice('cartridge-'.length)}`
    meshMetrics.refused.inc({ peer: r.peer, reason })
    await audit('cartridge.refused', { ...base, reason, code: err.code, message: err.message.slice(0, 4096) })
  }
}

/** Publishes this node's own audit events through the ingest checks (catalog, envelope, size), on the node's own path: the types are reserved to it. */
function auditPublisher(deps: CartridgeReceiverDeps): Audit {
  const source = `omni://${deps.mesh.node}/mesh`
  return async (type, data) => {
    await publishPrepared(deps.publisher, [prepareNodeEvent(deps.catalog(), { type, data }, { source })], NODE_ORIGIN)
  }
}
