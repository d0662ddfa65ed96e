export { startNatsServer, type ManagedNatsServer, type NatsServerOptions } from './nats-server.ts'
export { checkServerVersion } from './check.ts'
export { MIN_NATS_VERSION, isSupportedVersion } from './version.ts'
