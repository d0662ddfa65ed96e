import { Script, createContext } from 'node:vm'
import { omniError } from '../errors/mod.ts'
import { checkOutput, failure, thrownMessage } from './result.ts'
import { STAGE_FUNCTION, type PluginCode, type PluginInput, type PluginInstance, type PluginOutput, type SandboxRuntime } from './types.ts'

type StageFunction = (input: PluginInput) => unknown

/**
 * Runs trusted plugins (tiers core and verified only; the loader refuses others) in the worker
 * process. The code is evaluated from its verified bytes in a context of its own, so it shares
 * no globals with the host, but `vm` is not a security boundary: that is why only trusted tiers
 * may use this runtime. Results are still checked like any sandbox's.
 */
export function createInprocessRuntime(): SandboxRuntime {
  const instances = new Set<PluginInstance>()
  let closing: Promise<void> | undefined
  const done = Promise.withResolvers<void>()
  const runtime: SandboxRuntime = {
    runtime: 'inprocess',
    async load(code: PluginCode): Promise<PluginInstance> {
      if (closing) throw omniError('OMNI_ERR_SANDBOX_UNAVAILABLE', 'the in-process runtime is closed')
      const stage = evaluate(code)
      let closed = false
      const instance: PluginInstance = {
        id: code.id,
        runtime: 'inprocess',
        async run(inputs, watch) {
          if (closed) throw omniError('OMNI_ERR_SANDBOX_UNAVAILABLE', `plugin ${code.id} was closed`)
          // every input is a call of its own here, started at once: no queue, no restart
          return Promise.all(inputs.map((input, i) => (watch?.running(i), call(stage, input))))
        },
        async close() {
          closed = true
          instances.delete(instance)
        },
      }
      instances.add(instance)
      return instance
    },
    close() {
      closing ??= Promise.all([...instances].map((i) => i.close())).then(() => done.resolve())
      return closing
    },
    closed: () => done.promise,
    [Symbol.asyncDispose]: () => runtime.close(),
  }
  return runtime
}

function evaluate(code: PluginCode): StageFunction {
  const context = createContext({}, { name: `plugin:${code.id}`, codeGeneration: { strings: false, wasm: false } })
  try {
    new Script(code.source, { filename: `plugin:${code.id}/${code.main}` }).runInContext(context, { timeout: code.limits.timeoutMs })
  } catch (err) {
    throw omniError('OMNI_ERR_PLUGIN_FAILED', `plugin ${code.id} failed to load: ${thrownMessage(err)}`, { cause: err })
  }
  const stage = (context as Record<string, unknown>)[STAGE_FUNCTION]
  if (typeof stage !== 'function') throw omniError('OMNI_ERR_PLUGIN_FAILED', `plugin ${code.id}: ${code.main} declares no function \`${STAGE_FUNCTION}(input)\``)
  return stage as StageFunction
}

async function call(stage: StageFunction, input: PluginInput): Promise<PluginOutput> {
  try {
    return checkOutput(await stage(input))
  } catch (err) {
    return failure('threw', thrownMessage(err))
  }
}
