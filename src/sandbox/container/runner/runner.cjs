'use strict'
/*
 * The process inside a plugin's container: loads the plugin's verified entry file into a `vm`
 * context of its own and serves batches over the host's Unix socket, which it connects to in the
 * read-only bind-mounted socket folder.
 *
 *   node runner.cjs <entry file> <display filename> <socket path> <timeout ms> <max frame bytes>
 *
 * Frames: 4-byte big-endian length + msgpack body. On its connection the runner first sends
 * `{ hello: 'omni-runner/1' }` (or `{ hello, error }` when the plugin cannot be loaded), then
 * answers `{ id, inputs }` with `{ id, outputs: [{ ok } | { err } | { bad }] }`, or with
 * `{ id, fail: 'timeout', message }` when the batch's synchronous work outlived the timeout.
 *
 * The container (no network, read-only, no capabilities, uid 65534, limits) is the security
 * boundary; the vm context is what gives the plugin a clean global and a timeout for loops.
 * Plugin values never touch this realm as objects: inputs go in and results come out as JSON
 * strings parsed and built inside the plugin's context, by a wrapper captured before the
 * plugin's code runs.
 */
const fs = require('node:fs')
const net = require('node:net')
const vm = require('node:vm')
const crypto = require('node:crypto')
const { Packr, Unpackr } = require('./msgpackr.cjs')

const HELLO = 'omni-runner/1'
const [entryPath, displayName, socketPath, timeoutArg, maxFrameArg] = process.argv.slice(2)
const timeoutMs = Number(timeoutArg)
const maxFrame = Number(maxFrameArg)

const WRAPPER = String.raw`(function () {
  'use strict'
  const parse = JSON.parse
  const stringify = JSON.stringify
  const PromiseCtor = Promise
  const then = Promise.prototype.then
  const defineProperty = Object.defineProperty
  const apply = Reflect.apply
  const slice = String.prototype.slice
  function describe(err) {
    try {
      let text
      if (typeof err === 'object' && err !== null && typeof err.message === 'string') {
        text = (typeof err.name === 'string' && err.name !== '' ? err.name + ': ' : '') + err.message
      } else {
        text = '' + err
      }
      return text.length > 2000 ? apply(slice, text, [0, 2000]) : text
    } catch {
      return 'threw a value that cannot be described'
    }
  }
  function entry(value) {
    const kind = typeof value
    if (kind === 'undefined') return '{}'
    if (kind === 'function' || kind === 'symbol' || kind === 'bigint') return stringify({ __proto__: null, bad: 'invalid result: stage returned a ' + kind })
    try {
      return stringify({ __proto__: null, ok: value })
    } catch (err) {
      return stringify({ __proto__: null, bad: 'invalid result: not serializable as JSON: ' + describe(err) })
    }
  }
  // the runner waits on a batch through the original then(): a plugin that replaces
  // Promise.prototype.then must not be able to stall or forge the reply
  function watch(promise, onDone, onFail) {
    apply(then, promise, [onDone, onFail])
  }
  return function bind() {
    const fn = typeof stage === 'function' ? stage : undefined
    if (fn === undefined) return undefined
    return { __proto__: null, watch, run: function run(json) {
      const inputs = parse(json)
      const count = inputs.length
      const slots = { __proto__: null }
      let left = count
      let settle
      const done = new PromiseCtor((resolve) => { settle = resolve })
      // then() looks up done.constructor (and its Symbol.species), both of which the plugin
      // could turn into getters; an own undefined constructor makes then() use the intrinsic
      defineProperty(done, 'constructor', { __proto__: null, value: undefined })
      const finish = () => {
        let out = '['
        for (let i = 0; i < count; i++) out += (i === 0 ? '' : ',') + slots[i]
        settle(out + ']')
      }
      const one = async (i, input) => {
        let piece
        try {
          piece = entry(await fn(input))
        } catch (err) {
          piece = stringify({ __proto__: null, err: describe(err) })
        }
        slots[i] = piece
        if (--left === 0) finish()
      }
      if (count === 0) finish()
      for (let i = 0; i < count; i++) one(i, inputs[i])
      return done
    } }
  }
})()`

function message(err) {
  return err && typeof err.message === 'string' ? err.message : String(err)
}

/** Loads the plugin; returns its batch runner or the reason it cannot run. */
function loadPlugin() {
  // a null-prototype sandbox: `this.constructor` inside the context then leads to the
  // context's own Function, which code generation from strings is disabled for
  const context = vm.createContext(Object.create(null), { name: displayName, codeGeneration: { strings: false, wasm: false } })
  // random names, so plugin code cannot claim them before they are defined
  const key = (name) => `__omni_${name}_${crypto.randomBytes(8).toString('hex')}`
  const [bindKey, runKey, inKey] = [key('bind'), key('run'), key('in')]
  const hidden = (name, value, writable) => Object.defineProperty(context, name, { value, writable, configurable: false, enumerable: false })
  // The runner calls into the context only through scripts, so `timeout` always applies, and
  // they reach our functions through `this`, never a global name: a plugin may turn a global
  // (even `globalThis`) into a getter, and a getter run by the context's property interceptor
  // is beyond the reach of `timeout`.
  const callScript = (code) => new vm.Script(code, { filename: 'omni:container-call' })
  try {
    hidden(bindKey, new vm.Script(WRAPPER, { filename: 'omni:container-wrapper' }).runInContext(context), false)
    const source = fs.readFileSync(entryPath, 'utf8')
    new vm.Script(source, { filename: displayName }).runInContext(context, { timeout: timeoutMs })
    // for the same reason `stage` must not be an accessor: looking it up would run it there
    const declared = Object.getOwnPropertyDescriptor(context, 'stage')
    if (declared !== undefined && !('value' in declared)) return { error: `${displayName} makes \`stage\` an accessor; declare it as a function` }
    const bound = callScript(`this[${JSON.stringify(bindKey)}]()`).runInContext(context, { timeout: timeoutMs })
    if (bound === undefined) return { error: `${displayName} declares no function \`stage(input)\`` }
    const { run, watch } = bound
    hidden(runKey, run, false)
    hidden(inKey, '[]', true)
    const call = callScript(`this[${JSON.stringify(runKey)}](this[${JSON.stringify(inKey)}])`)
    return {
      /** Starts a batch (its synchronous part under the timeout); resolves to a JSON string. */
      run(inputs) {
        context[inKey] = JSON.stringify(inputs)
        let pending
        try {
          pending = call.runInContext(context, { timeout: timeoutMs })
        } finally {
          context[inKey] = '[]'
        }
        return new Promise((resolve, reject) => watch(pending, resolve, reject))
      },
    }
  } catch (err) {
    return { error: message(err) }
  }
}

const plugin = loadPlugin()

function serve(socket) {
  // untrusted input never reaches the code generator of msgpackr: this is the no-eval build
  const packr = new Packr({ useRecords: true })
  const unpackr = new Unpackr({ int64AsType: 'number' })
  let buffered = Buffer.alloc(0)
  let queue = Promise.resolve()

  const send = (msg) => {
    const body = packr.pack(msg)
    if (body.length > maxFrame) {
      const fallback = packr.pack({ id: msg.id, fail: 'invalid-result', message: `the reply is ${body.length} bytes, more than the ${maxFrame} allowed` })
      return write(fallback)
    }
    return write(body)
  }
  const write = (body) => {
    const head = Buffer.allocUnsafe(4)
    head.writeUInt32BE(body.length, 0)
    socket.write(Buffer.concat([head, body]))
  }

  const handle = async (req) => {
    if (!req || typeof req.id !== 'number' || !Array.isArray(req.inputs)) return
    if (plugin.error !== undefined) return send({ id: req.id, fail: 'crashed', message: plugin.error })
    let pending
    try {
      pending = plugin.run(req.inputs)
    } catch (err) {
      const timedOut = err && err.code === 'ERR_SCRIPT_EXECUTION_TIMEOUT'
      return send({ id: req.id, fail: timedOut ? 'timeout' : 'crashed', message: timedOut ? `the batch ran longer than ${timeoutMs} ms` : message(err) })
    }
    const json = await pending
    if (typeof json !== 'string') return send({ id: req.id, fail: 'invalid-result', message: 'the batch produced no result list' })
    send({ id: req.id, outputs: JSON.parse(json) })
  }

  socket.on('data', (chunk) => {
    buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk])
    while (buffered.length >= 4) {
      const size = buffered.readUInt32BE(0)
      if (size > maxFrame) return socket.destroy()
      if (buffered.length < 4 + size) break
      const body = buffered.subarray(4, 4 + size)
      buffered = buffered.subarray(4 + size)
      let req
      try {
        req = unpackr.unpack(body)
      } catch {
        return socket.destroy()
      }
      // one batch at a time, in order: a timeout then belongs to the batch that caused it
      queue = queue.then(() => handle(req)).catch((err) => send({ id: req.id, fail: 'crashed', message: message(err) }))
    }
  })
  socket.on('error', () => {})
  send(plugin.error === undefined ? { hello: HELLO } : { hello: HELLO, error: plugin.error })
}

// The host listens; the runner connects. The socket folder is read-only in here, so nothing of
// the container can replace the host's socket or fill that folder. One connection per start: when
// the host ends it (it is restarting or removing this container), the runner exits.
const CONNECT_TRIES = 50
const CONNECT_DELAY_MS = 100
function connectHost(tries) {
  let connected = false
  const socket = net.connect(socketPath)
  socket.once('connect', () => {
    connected = true
    socket.on('close', () => process.exit(0))
    serve(socket)
  })
  socket.on('error', (err) => {
    if (connected) return
    if (tries > 1) return void setTimeout(() => connectHost(tries - 1), CONNECT_DELAY_MS)
    process.stderr.write(`omni runner: cannot connect to the host at ${socketPath}: ${message(err)}\n`)
    process.exit(70)
  })
}
connectHost(CONNECT_TRIES)
