import { join } from 'node:path'
import type { Logger } from '../observability/logger.ts'
import { createContainerRuntime } from '../sandbox/container/mod.ts'
import { createIsolateRuntime } from '../sandbox/isolate/runtime.ts'
import { closeOnce } from '../util/lifecycle.ts'
import type { PluginCode, PluginInstance, Runtime, SandboxRuntime } from '../sandbox/types.ts'

export interface SandboxesOptions {
  readonly dockerSocket: string
  readonly workDir: string
  readonly logger: Logger
}

/** The three sandbox runtimes of a fabric, each created on first use only. */
export interface Sandboxes {
  load(runtime: Runtime, code: PluginCode): Promise<PluginInstance>
  /** closes the runtimes that were started, in reverse order of start; idempotent */
  close(): Promise<void>
  closed(): Promise<void>
  [Symbol.asyncDispose](): Promise<void>
}

/**
 * Where a plugin whose signed manifest names `runtime` runs. A signed `inprocess` plugin (tiers
 * core and verified) runs in the isolate process too: code on the worker's own thread cannot be
 * given a time limit that survives a spin (a `while (true)` after an `await` stops every timer,
 * NATS answer and ack of the process, and `vm`'s timeout cannot interrupt it without aborting
 * Node when async hooks are on). The isolate enforces the plugin's `timeoutMs` and `memoryMb` on
 * every call and survives a crash. `src/sandbox/inprocess.ts` stays for the host's own code.
 */
export const SANDBOX_OF: Readonly<Record<Runtime, Exclude<Runtime, 'inprocess'>>> = { inprocess: 'isolate', isolate: 'isolate', container: 'container' }

/**
 * Picks the runtime a plugin's signed manifest names. Nothing starts before the first plugin
 * of a runtime loads: no isolate process and no Docker connection exist when no plugin needs one.
 */
export function createSandboxes(opts: SandboxesOptions): Sandboxes {
  const started = new Map<Runtime, SandboxRuntime>()
  const make: Record<Exclude<Runtime, 'inprocess'>, () => SandboxRuntime> = {
    isolate: () => createIsolateRuntime(),
    container: () => createContainerRuntime({ socketPath: opts.dockerSocket, workDir: join(opts.workDir, 'containers'), logger: opts.logger }),
  }
  return {
    load(declared, code) {
      const runtime = SANDBOX_OF[declared]
      let r = started.get(runtime)
      if (!r) {
        r = make[runtime]()
        started.set(runtime, r)
      }
      return r.load(code)
    },
    ...closeOnce(async () => {
      for (const r of [...started.values()].reverse()) await r.close()
      started.clear()
    }),
  }
}
