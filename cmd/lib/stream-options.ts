import type { Command } from 'commander'
import type { TopologyOptions } from '../../src/jetstream/topology.ts'
import { addEnvOption, optionReader, type EnvOption } from './options.ts'
import { MAX_REPLICAS } from '../../src/jetstream/replicas.ts'
import { parseByteLimit } from './parse.ts'

export interface StreamCliOptions {
  streamMaxBytes?: number
  rawMaxBytes?: number
  replicas?: number
}

// no fallback value: a limit given here is applied to an existing stream too, while the default
// is only what a new stream gets (an operator's own limit on the server is kept)
const EVENTS_MAX_BYTES: EnvOption<number | undefined> = {
  flags: '--stream-max-bytes <size>',
  env: 'OMNI_STREAM_MAX_BYTES',
  fallback: undefined,
  fallbackHelp: '8GiB on a stream it creates; an existing stream keeps its own',
  parse: parseByteLimit,
}
const RAW_MAX_BYTES: EnvOption<number | undefined> = {
  flags: '--raw-max-bytes <size>',
  env: 'OMNI_RAW_MAX_BYTES',
  fallback: undefined,
  fallbackHelp: '8GiB on a stream it creates; an existing stream keeps its own',
  parse: parseByteLimit,
}

// no fallback value either: an existing stream keeps its count unless one is given (then it may grow, never shrink)
const REPLICAS: EnvOption<number | undefined> = {
  flags: '--replicas <n>',
  env: 'OMNI_REPLICAS',
  fallback: undefined,
  fallbackHelp: '1 on a stream or bucket it creates; an existing one keeps its own',
  parse: (text, where) => {
    // digits only: Number() would read 0x3, 3.0, 3e0 or +3 as 3
    const n = /^\s*\d+\s*$/.test(text) ? Number(text) : NaN
    if (!Number.isInteger(n) || n < 1 || n > MAX_REPLICAS) throw new Error(`${where} must be an integer from 1 to ${MAX_REPLICAS}, got "${text}"`)
    return n
  },
}

/** `omni up`'s stream limits and replica count. */
export function withStreamOptions(cmd: Command): Command {
  addEnvOption(cmd, EVENTS_MAX_BYTES, 'byte limit of the events stream (1048576, 512MiB, 8GiB, or none); when reached, ingest answers 507 OMNI_ERR_STREAM_FULL and nothing stored is deleted')
  addEnvOption(cmd, RAW_MAX_BYTES, 'byte limit of the raw webhook archive stream, likewise')
  addEnvOption(
    cmd,
    REPLICAS,
    `copies of every stream and KV bucket the platform keeps, across a NATS cluster given by --nats (1 to ${MAX_REPLICAS}; 3 for a 3-node cluster: JetStream needs a majority of the copies, so 2 survive no server loss and 3 survive one). An existing stream or bucket with fewer is raised to it (logged); one with more is never lowered (a warning names it and both counts)`,
  )
  return cmd
}

/** The stream settings the flags or variables give; an invalid one names its flag or `$VAR`. */
export function streamSettingsFrom(opts: StreamCliOptions, env: NodeJS.ProcessEnv = process.env): Omit<TopologyOptions, 'mode'> {
  const reader = optionReader(env)
  const maxBytes = reader.read({ ...EVENTS_MAX_BYTES, value: opts.streamMaxBytes }).value
  const rawMaxBytes = reader.read({ ...RAW_MAX_BYTES, value: opts.rawMaxBytes }).value
  const replicas = reader.read({ ...REPLICAS, value: opts.replicas }).value
  reader.done('stream options')
  return { ...(maxBytes !== undefined ? { maxBytes } : {}), ...(rawMaxBytes !== undefined ? { rawMaxBytes } : {}), ...(replicas !== undefined ? { replicas } : {}) }
}
