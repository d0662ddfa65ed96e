import { resolve } from 'node:path'
import type { Command } from 'commander'
import { omniError, type Problem } from '../../src/errors/mod.ts'

/**
 * Every option that an environment variable can set takes one path: its flag, else the variable
 * (an empty one counts as unset), else the fallback. Commander gets no default for such an
 * option: a commander default would hide the variable and be read when the module loads.
 */

/** Where a resolved option's value came from. */
export type OptionSource = 'flag' | 'env' | 'default'

export interface ResolvedOption<T> {
  readonly value: T
  readonly source: OptionSource
  /** the flag or `$VAR` that set the value (the flag, when it is the fallback), for messages */
  readonly where: string
}

/** An option with its flag, its variable and its fallback. */
export interface EnvOption<T> {
  /** commander's flags, e.g. `-m, --manifests <path>`; none for a setting only a variable sets */
  readonly flags?: string
  /** the variable read when the flag is absent */
  readonly env: string
  /** the value when neither is given (undefined: the option stays unset) */
  readonly fallback: T
  /** how --help names the fallback when the value alone would not say it, e.g. `<data>/plugins` */
  readonly fallbackHelp?: string
  /** turns text (the flag's, as commander's parser, or the variable's) into the value; throws naming `where` */
  readonly parse?: (text: string, where: string) => T
}

/** An option to resolve: its definition and what commander parsed (undefined: the flag was not given). */
export type OptionSpec<T> = EnvOption<T> & { readonly value: T | undefined }

/** `--manifests` from `-m, --manifests <path>`. */
export function longFlag(flags: string): string {
  return /--[a-z0-9-]+/.exec(flags)?.[0] ?? flags
}

/** Adds the option with `help` and its default spelled out: `(default: $VAR, else "x")`. */
export function addEnvOption<T>(cmd: Command, opt: EnvOption<T>, help: string): Command {
  if (!opt.flags) throw new Error(`$${opt.env} has no flag to add`)
  const fallback = opt.fallbackHelp ?? (opt.fallback === undefined ? undefined : JSON.stringify(opt.fallback))
  const text = `${help} (default: $${opt.env}${fallback === undefined ? '' : `, else ${fallback}`})`
  const { parse } = opt
  const flag = longFlag(opt.flags)
  return parse ? cmd.option(opt.flags, text, (value: string) => parse(value, flag)) : cmd.option(opt.flags, text)
}

/** Resolves several options and reports every invalid one at once. */
export interface OptionReader {
  /** The flag's value, else the variable's, else the fallback; an invalid one is noted and the fallback returned. */
  read<T>(spec: OptionSpec<T>): ResolvedOption<T>
  /** Notes a value that was read but is not allowed. */
  problem(where: string, message: string): void
  /** Throws OMNI_ERR_CONFIG when anything was noted: one problem as `<where> <message>`, several as "<n> invalid <what>". */
  done(what?: string): void
}

export function optionReader(env: NodeJS.ProcessEnv = process.env): OptionReader {
  const problems: Problem[] = []
  return {
    read<T>(spec: OptionSpec<T>): ResolvedOption<T> {
      const flag = spec.flags ? longFlag(spec.flags) : `$${spec.env}`
      if (spec.value !== undefined) {
        if (typeof spec.value === 'string' && spec.value.trim() === '') problems.push({ where: flag, message: 'must not be empty' })
        return { value: spec.value, source: 'flag', where: flag }
      }
      const text = env[spec.env]
      const fallback = { value: spec.fallback, source: 'default', where: flag } as const
      if (text === undefined || text.trim() === '') return fallback
      const where = `$${spec.env}`
      if (!spec.parse) return { value: text as T, source: 'env', where }
      try {
        return { value: spec.parse(text, where), source: 'env', where }
      } catch (err) {
        // parsers name what they parse, for commander's sake; the problem names it once
        const message = err instanceof Error ? err.message : String(err)
        problems.push({ where, message: message.startsWith(`${where} `) ? message.slice(where.length + 1) : message })
        return fallback
      }
    },
    problem(where, message) {
      problems.push({ where, message })
    },
    done(what = 'options') {
      const [first] = problems
      if (first && problems.length === 1) throw omniError('OMNI_ERR_CONFIG', `${first.where} ${first.message}`)
      if (problems.length > 1) throw omniError('OMNI_ERR_CONFIG', `${problems.length} invalid ${what}`, { problems: [...problems] })
    },
  }
}

/** One option: its flag, else its variable, else its fallback; throws OMNI_ERR_CONFIG naming the flag or `$VAR` of an invalid value. */
export function resolveOption<T>(spec: OptionSpec<T>, env: NodeJS.ProcessEnv = process.env): ResolvedOption<T> {
  const reader = optionReader(env)
  const resolved = reader.read(spec)
  reader.done()
  return resolved
}

/** The NATS server the commands that only connect use (`omni up` starts its own unless --nats). */
export const NATS_URL: EnvOption<string> = { flags: '--nats <url>', env: 'OMNI_NATS_URL', fallback: 'nats://127.0.0.1:4222' }

/** The manifests folder: the catalog, the pipelines and the webhook sources. */
export const MANIFESTS: EnvOption<string> = { flags: '-m, --manifests <path>', env: 'OMNI_MANIFESTS', fallback: 'manifests', fallbackHelp: './manifests' }

/** The NATS URL from --nats, $OMNI_NATS_URL or the local default. */
export function natsUrl(value: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return resolveOption({ ...NATS_URL, value }, env).value
}

/** The manifests folder from --manifests, $OMNI_MANIFESTS or ./manifests, as given (relative stays relative). */
export function manifestsOption(value: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return resolveOption({ ...MANIFESTS, value }, env).value
}

/** The manifests folder, absolute. */
export function manifestsPath(value: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return resolve(manifestsOption(value, env))
}
