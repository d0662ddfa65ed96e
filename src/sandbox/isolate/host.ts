/**
 * Entry of the isolate process, forked by the supervisor (runtime.ts) with an IPC channel. It
 * hosts one isolate per loaded plugin and answers requests; it is the only process that loads
 * isolated-vm, so a fatal V8 error in an isolate takes down this process, never the worker.
 */
import type { ChildMessage, Request } from './protocol.ts'
import { LoadFailure, loadPluginIsolate, type PluginIsolate } from './plugin-isolate.ts'

const plugins = new Map<string, PluginIsolate>()

function send(msg: ChildMessage): void {
  // the channel is gone only when the supervisor is: the disconnect handler ends this process
  if (process.connected) process.send?.(msg, undefined, undefined, () => {})
}

// V8 lost control of an isolate: nothing in this process can be trusted to work any more
function catastrophe(message: string): void {
  process.stderr.write(`isolate process: catastrophic V8 error: ${message}\n`)
  process.abort()
}

async function handle(req: Request): Promise<void> {
  switch (req.type) {
    case 'load': {
      plugins.get(req.key)?.dispose()
      plugins.delete(req.key)
      try {
        plugins.set(req.key, await loadPluginIsolate(req, catastrophe))
        send({ type: 'ok', id: req.id })
      } catch (err) {
        const kind = err instanceof LoadFailure ? err.kind : 'crashed'
        send({ type: 'fail', id: req.id, kind, message: err instanceof Error ? err.message : String(err) })
      }
      return
    }
    case 'run': {
      const plugin = plugins.get(req.key)
      if (!plugin) return send({ type: 'fail', id: req.id, kind: 'crashed', message: `plugin ${req.key} is not loaded in the isolate process` })
      const outcome = await plugin.run(req.input)
      return send(outcome.type === 'ok' ? { type: 'ok', id: req.id, output: outcome.output } : { type: 'fail', id: req.id, kind: outcome.kind, message: outcome.message })
    }
    case 'unload': {
      plugins.get(req.key)?.dispose()
      plugins.delete(req.key)
      return send({ type: 'ok', id: req.id })
    }
  }
}

process.on('message', (msg: Request) => {
  void handle(msg)
})

// the supervisor closed the channel or died: isolates must not outlive it
process.on('disconnect', () => {
  for (const plugin of plugins.values()) plugin.dispose()
  process.exit(0)
})

send({ type: 'ready' })
