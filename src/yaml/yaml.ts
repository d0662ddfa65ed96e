import { readFile } from 'node:fs/promises'
import { isNode, LineCounter, parseDocument, type Document } from 'yaml'
import { omniError, type Problem } from '../errors/mod.ts'

export type { PathSegment } from '../util/schema-errors.ts'
import type { PathSegment } from '../util/schema-errors.ts'

/** A parsed YAML manifest that can tell where any value in it came from. */
export interface YamlManifest {
  readonly file: string
  readonly value: unknown
  /** `file:line:col` of the value at `path`, or of its nearest existing ancestor. */
  locate(path: readonly PathSegment[]): string
}

/** Size cap on a manifest file: manifests are configuration, not data. */
export const MAX_MANIFEST_BYTES = 1024 * 1024

/** Parses YAML text; syntax errors become one problem each, with file:line:col. */
export function parseYamlManifest(file: string, text: string): YamlManifest {
  const lineCounter = new LineCounter()
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true })
  if (doc.errors.length > 0) {
    const problems: Problem[] = doc.errors.map((e) => {
      const pos = e.linePos?.[0] ?? lineCounter.linePos(e.pos[0])
      return { where: `${file}:${pos.line}:${pos.col}`, message: e.message.split('\n')[0] ?? e.message }
    })
    throw omniError('OMNI_ERR_YAML', `${file} is not valid YAML`, { problems })
  }
  return {
    file,
    value: doc.toJS({ maxAliasCount: 100 }) as unknown,
    locate: (path) => locateIn(doc, lineCounter, file, path),
  }
}

/** Reads and parses one manifest file. */
export async function readYamlManifest(file: string): Promise<YamlManifest> {
  const buf = await readFile(file)
  if (buf.byteLength > MAX_MANIFEST_BYTES) {
    throw omniError('OMNI_ERR_MANIFEST', `${file} is ${buf.byteLength} bytes; manifests are limited to ${MAX_MANIFEST_BYTES}`)
  }
  return parseYamlManifest(file, buf.toString('utf8'))
}

function locateIn(doc: Document, lc: LineCounter, file: string, path: readonly PathSegment[]): string {
  for (let len = path.length; len >= 0; len--) {
    const node = len === 0 ? doc.contents : doc.getIn(path.slice(0, len), true)
    if (isNode(node) && node.range) {
      const { line, col } = lc.linePos(node.range[0])
      return `${file}:${line}:${col}`
    }
  }
  return `${file}:1:1`
}
