export { startNatsServer, type ManagedNatsServer, type NatsServerOptions } from './nats-server.ts'
export { checkServerVersion } from './check.ts'
export { loadOrCreateNatsCredentials, readNatsCredentials, type NatsCredentials } from './credentials.ts'
export { MIN_NATS_VERSION, isSupportedVersion } from './version.ts'
