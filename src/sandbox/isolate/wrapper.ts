/**
 * The code evaluated in each plugin's isolate before the plugin's own code. Its completion
 * value is a `bind()` function that the isolate process keeps as a reference and never puts on
 * the global object, so the plugin cannot reach or replace it. Called after the plugin's code,
 * `bind()` returns the batch runner for the plugin's `stage`, or `undefined` when there is none.
 *
 * The runner takes one JSON string (an array of inputs) and resolves to one JSON string (an
 * array of `BatchEntry`, see protocol.ts). It starts `stage` for every event before waiting on
 * any (like `Promise.all`), and catches each event's failure on its own.
 *
 * The plugin shares this realm, so everything the runner needs later is captured here, before
 * the plugin runs: a plugin that replaces `JSON`, `Promise` or array methods while handling one
 * event cannot break how later batches are framed. It avoids `Array.prototype` (its slots live
 * on a null-prototype object) and never awaits its own promises; `await` on `stage`'s value
 * only involves what the plugin itself returned.
 */
export const WRAPPER_FILENAME = 'omni:isolate-wrapper'

export const WRAPPER_SOURCE = String.raw`(function () {
  'use strict'
  const parse = JSON.parse
  const stringify = JSON.stringify
  const PromiseCtor = Promise
  const apply = Reflect.apply
  const slice = String.prototype.slice
  const MAX_MESSAGE = 2000

  function describe(err) {
    try {
      let text
      if (typeof err === 'object' && err !== null && typeof err.message === 'string') {
        text = (typeof err.name === 'string' && err.name !== '' ? err.name + ': ' : '') + err.message
      } else {
        text = '' + err
      }
      return text.length > MAX_MESSAGE ? apply(slice, text, [0, MAX_MESSAGE]) : text
    } catch {
      return 'threw a value that cannot be described'
    }
  }

  function entry(value) {
    const kind = typeof value
    if (kind === 'undefined') return '{}'
    if (kind === 'function' || kind === 'symbol' || kind === 'bigint') {
      return stringify({ __proto__: null, bad: 'invalid result: stage returned a ' + kind })
    }
    try {
      return stringify({ __proto__: null, ok: value })
    } catch (err) {
      return stringify({ __proto__: null, bad: 'invalid result: not serializable as JSON: ' + describe(err) })
    }
  }

  return function bind() {
    // a bare name, resolved now: the plugin's top-level declarations exist by this call
    const fn = typeof stage === 'function' ? stage : undefined
    if (fn === undefined) return undefined
    return function run(json) {
      const inputs = parse(json)
      const count = inputs.length
      const slots = { __proto__: null }
      let left = count
      let settle
      const done = new PromiseCtor((resolve) => { settle = resolve })
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
    }
  }
})()`
