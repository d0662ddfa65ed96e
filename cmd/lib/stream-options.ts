import type { Command } from 'commander'
import type { TopologyOptions } from '../../src/jetstream/topology.ts'
import { addEnvOption, optionReader, type EnvOption } from './options.ts'
import { parseByteLimit } from './parse.ts'

export interface StreamCliOptions {
  streamMaxBytes?: number
  rawMaxBytes?: number
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

/** `omni up`'s stream limits. */
export function withStreamOptions(cmd: Command): Command {
  addEnvOption(cmd, EVENTS_MAX_BYTES, 'byte limit of the events stream (1048576, 512MiB, 8GiB, or none); when reached, ingest answers 507 OMNI_ERR_STREAM_FULL and nothing stored is deleted')
  addEnvOption(cmd, RAW_MAX_BYTES, 'byte limit of the raw webhook archive stream, likewise')
  return cmd
}

/** The stream settings the flags or variables give; an invalid one names its flag or `$VAR`. */
export function streamSettingsFrom(opts: StreamCliOptions, env: NodeJS.ProcessEnv = process.env): Omit<TopologyOptions, 'mode'> {
  const reader = optionReader(env)
  const maxBytes = reader.read({ ...EVENTS_MAX_BYTES, value: opts.streamMaxBytes }).value
  const rawMaxBytes = reader.read({ ...RAW_MAX_BYTES, value: opts.rawMaxBytes }).value
  reader.done('stream options')
  return { ...(maxBytes !== undefined ? { maxBytes } : {}), ...(rawMaxBytes !== undefined ? { rawMaxBytes } : {}) }
}
