import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type Docker from 'dockerode'
import { omniError } from '../errors/mod.ts'
import { contentHash, findImageByLabel, importRootfs, type RootfsImageProgress } from '../rootfs/mod.ts'
import { imageChanges, IMAGE_NAME, IMAGE_CONTENT_LABEL } from './layout.ts'
import { recipeEntries, type RecipeInputs } from './recipe.ts'

// bump when the rootfs layout or the image settings change in a way the files do not show
const LAYOUT_VERSION = 'omni-platform-image/1'

/** The platform image in the local engine. */
export interface PlatformImage {
  /** `sha256:…` */
  readonly id: string
  /** `omni-fabric:<package version>-<variant>` */
  readonly tag: string
  readonly variant: RecipeInputs['variant']
  /** the hash of everything in it, also its label */
  readonly content: string
  readonly reused: boolean
  /** the image's size in the engine, bytes */
  readonly sizeBytes: number
}

export interface BuildPlatformImageOptions extends RecipeInputs {
  readonly onProgress?: (progress: RootfsImageProgress) => void
}

/** `omni-fabric:<version>-<variant>`, the version from the repository's package.json. */
export async function platformImageTag(root: string, variant: RecipeInputs['variant']): Promise<string> {
  const { version } = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as { version?: string }
  if (!version) throw omniError('OMNI_ERR_IMAGE_BUILD', `${join(root, 'package.json')} has no version to tag the image with`)
  return `${IMAGE_NAME}:${version}-${variant}`
}

/**
 * Builds the platform image with `docker import` from a rootfs assembled here (no registry, no
 * Dockerfile), or reuses the image whose content label matches, and tags it with the version.
 */
export async function buildPlatformImage(docker: Docker, opts: BuildPlatformImageOptions): Promise<PlatformImage> {
  const progress = opts.onProgress ?? (() => {})
  const tag = await platformImageTag(opts.root, opts.variant)
  try {
    const entries = await recipeEntries(opts)
    progress({ type: 'hashing', files: entries.length })
    const content = await contentHash(LAYOUT_VERSION, entries)
    let id = await findImageByLabel(docker, IMAGE_CONTENT_LABEL, content)
    const reused = id !== undefined
    if (id) {
      progress({ type: 'reused', id })
      // the tag may point at an older build: move it to this one
      const [repo, version] = tag.split(':') as [string, string]
      await docker.getImage(id).tag({ repo, tag: version })
    } else {
      const [repo, version] = tag.split(':') as [string, string]
      id = await importRootfs(docker, entries, { repo, tag: version, changes: imageChanges(content, opts.variant), onProgress: progress })
    }
    const info = (await docker.getImage(id).inspect()) as { Size: number }
    return { id, tag, variant: opts.variant, content, reused, sizeBytes: info.Size }
  } catch (err) {
    throw omniError('OMNI_ERR_IMAGE_BUILD', `building ${tag} failed: ${(err as Error).message}`, { cause: err })
  }
}
