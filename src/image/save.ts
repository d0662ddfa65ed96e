import { createWriteStream } from 'node:fs'
import { mkdir, rename, rm } from 'node:fs/promises'
import { dirname } from 'node:path'
import { Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type Docker from 'dockerode'
import { omniError } from '../errors/mod.ts'

/**
 * Writes `docker save` of `tag` to `file`: the archive `docker load`, `kind load image-archive`
 * and `ctr images import` take (manifest.json with the tag, and an OCI index beside it). Written
 * to a temporary name first, so a cut-off save never looks like a finished archive.
 */
export async function saveImage(docker: Docker, tag: string, file: string, onProgress?: (bytes: number) => void): Promise<number> {
  await mkdir(dirname(file), { recursive: true })
  const partial = `${file}.partial`
  let bytes = 0
  const counter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      bytes += chunk.length
      onProgress?.(bytes)
      done(null, chunk)
    },
  })
  try {
    const stream = await docker.getImage(tag).get()
    await pipeline(stream, counter, createWriteStream(partial))
    await rename(partial, file)
    return bytes
  } catch (err) {
    await rm(partial, { force: true })
    throw omniError('OMNI_ERR_IMAGE_BUILD', `saving ${tag} to ${file} failed: ${(err as Error).message}`, { cause: err })
  }
}
