import { createRequire } from 'node:module'
import { Packr } from 'msgpackr'

// the no-eval build for reading: record structures from the runner are never compiled to code
const { Unpackr } = createRequire(import.meta.url)('msgpackr/unpack-no-eval') as typeof import('msgpackr')

/**
 * Frames between the host and a container's runner: a 4-byte big-endian length, then a msgpack
 * body. The runner (runner/runner.cjs) holds its own copy of this codec; the two must agree.
 */

/** Bodies larger than this are refused in both directions (default of the runtime option). */
export const DEFAULT_MAX_FRAME_BYTES = 64 * 1024 * 1024

export class FrameTooLarge extends Error {
  readonly size: number
  constructor(size: number, max: number) {
    super(`a frame of ${size} bytes is larger than the ${max} allowed`)
    this.name = 'FrameTooLarge'
    this.size = size
  }
}

/** Packs messages into frames. Records make a batch of same-shaped events compact and fast. */
export interface FrameWriter {
  encode(message: unknown): Buffer
}

/** Splits a byte stream into messages; throws FrameTooLarge or a decoding error. */
export interface FrameReader {
  push(chunk: Buffer): unknown[]
}

export function createFrameWriter(maxBytes: number): FrameWriter {
  const packr = new Packr({ useRecords: true })
  return {
    encode(message) {
      const body = packr.pack(message)
      if (body.length > maxBytes) throw new FrameTooLarge(body.length, maxBytes)
      const head = Buffer.allocUnsafe(4)
      head.writeUInt32BE(body.length, 0)
      return Buffer.concat([head, body])
    },
  }
}

export function createFrameReader(maxBytes: number): FrameReader {
  // what arrives was written by a process that runs untrusted code: 64-bit integers become
  // numbers, maps become plain objects (callers still check every value)
  const unpackr = new Unpackr({ int64AsType: 'number', mapsAsObjects: true })
  let buffered: Buffer = Buffer.alloc(0)
  return {
    push(chunk) {
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk])
      const messages: unknown[] = []
      while (buffered.length >= 4) {
        const size = buffered.readUInt32BE(0)
        if (size > maxBytes) throw new FrameTooLarge(size, maxBytes)
        if (buffered.length < 4 + size) break
        messages.push(unpackr.unpack(buffered.subarray(4, 4 + size)))
        buffered = buffered.subarray(4 + size)
      }
      return messages
    },
  }
}
