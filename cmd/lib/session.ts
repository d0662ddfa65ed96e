import { getCartridge } from '../../src/cartridges/mod.ts'
import { openNodeClient, openQueryClient, type NodeClient, type NodeClientOptions, type QueryClient, type QueryClientOptions } from '../../src/node/mod.ts'
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream'
import type { NatsConnection } from '@nats-io/transport-node'
import { connectNats } from '../../src/jetstream/connect.ts'
import { createPublisher } from '../../src/jetstream/publisher.ts'
import type { AckPublisher } from '../../src/jetstream/publisher-types.ts'
import { ensureStreams } from '../../src/jetstream/topology.ts'
import { cliNatsCredentials } from './nats-credentials.ts'

export interface CliSession {
  readonly nc: NatsConnection
  readonly js: JetStreamClient
  readonly jsm: JetStreamManager
  readonly publisher: AckPublisher
  close(): Promise<void>
}

/** Connects for one CLI command and creates the streams if they are missing; never reconfigures them. */
export async function openSession(url: string): Promise<CliSession> {
  const credentials = await cliNatsCredentials(url)
  const nc = await connectNats(url, { name: 'omni-cli', ...(credentials ? { credentials } : {}) })
  const jsm = await jetstreamManager(nc)
  await ensureStreams(jsm, { mode: 'create-missing' })
  const publisher = createPublisher(nc)
  return {
    nc,
    js: jetstream(nc),
    jsm,
    publisher,
    close: async () => {
      await publisher.close()
      await nc.drain()
    },
  }
}

/** Runs `fn` with a NATS session and closes it after, whatever happens. */
export async function withSession<T>(url: string, fn: (session: CliSession) => Promise<T>): Promise<T> {
  const session = await openSession(url)
  try {
    return await fn(session)
  } finally {
    await session.close()
  }
}

/** Runs `fn` with the node's services over a connection of this command's own, closed after whatever happens. */
export async function withNodeClient<T>(opts: Omit<NodeClientOptions, 'lookup'>, fn: (client: NodeClient) => Promise<T>): Promise<T> {
  const credentials = await cliNatsCredentials(opts.natsUrl)
  await using client = await openNodeClient({ ...opts, lookup: getCartridge, ...(credentials ? { credentials } : {}) })
  return await fn(client)
}

/** Runs `fn` with the event and catalog queries over a ClickHouse of this command's own, closed after whatever happens. */
export async function withQueryClient<T>(opts: Omit<QueryClientOptions, 'lookup'>, fn: (client: QueryClient) => Promise<T>): Promise<T> {
  await using client = await openQueryClient({ ...opts, lookup: getCartridge })
  return await fn(client)
}
