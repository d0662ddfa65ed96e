import { relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Command } from 'commander'
import { buildPlatformImage, IMAGE_UID, IMAGE_VARIANTS, parseVariant, platformImageTag, saveImage, type ImageVariant } from '../../../src/image/mod.ts'
import { checkNatsBinary, locateNatsBinary } from '../../../src/server/mod.ts'
import { reachableDocker } from '../../lib/docker.ts'
import { imageBuildProgress } from '../../lib/image-progress.ts'
import { say } from '../../lib/output.ts'
import { addPluginFlags, pluginSettingsFrom } from '../../lib/plugin-options.ts'
import { progressBar } from '../../lib/progress.ts'

const ROOT = fileURLToPath(new URL('../../../', import.meta.url))

interface BuildOptions {
  variant: ImageVariant
  output?: string
  save: boolean
  dockerSocket?: string
}

/** `omni image build`. */
export function registerBuild(image: Command): void {
  const build = image
    .command('build')
    .summary('build (or reuse) the platform image and save it as an archive; prints its tag')
    .description(
      'Build the platform image omni-fabric:<version>-<variant> in the local Docker engine, with no registry and no Dockerfile: a root filesystem ' +
        'assembled from this checkout (this Node binary and the libraries ldd lists, the nats-server of $OMNI_NATS_SERVER, .tools/nats or PATH, ' +
        'package.json cmd/ src/ manifests/ bench/ and the production node_modules plus autocannon, which bench/ loads) ' +
        'is streamed into `docker import`. An image with the same content is reused. Then `docker save` writes an archive that docker load, ' +
        'kind load image-archive and ctr images import accept. ' +
        `The image runs as uid ${IMAGE_UID} with a read-only root (it writes only to /data and /tmp) and omni as its entrypoint (docs/kubernetes.md). ` +
        'Prints the tag (stdout, alone).',
    )
    .option(`--variant <name>`, `${IMAGE_VARIANTS.join(' or ')}: slim leaves out the embedded ClickHouse engine (chdb, about 550 MB); use a ClickHouse server (--clickhouse-url) or --no-clickhouse with it`, (text: string) => parseVariant(text), 'slim')
    .option('--output <file>', 'where to save the archive (default: dist/omni-fabric-<version>-<variant>.tar in the repository)')
    .option('--no-save', 'build the image in the engine only, write no archive')
  addPluginFlags(build, ['dockerSocket']).action(async (opts: BuildOptions) => {
    const { dockerSocket } = pluginSettingsFrom(opts)
    const nats = await locateNatsBinary()
    await checkNatsBinary(nats.path, nats.source)
    const docker = await reachableDocker(dockerSocket, 'OMNI_ERR_IMAGE_BUILD')
    const tag = await platformImageTag(ROOT, opts.variant)
    const output = resolve(opts.output ?? resolve(ROOT, 'dist', `${tag.replace(':', '-')}.tar`))
    const progress = imageBuildProgress(`${opts.variant} image`)
    const started = performance.now()
    const built = await buildPlatformImage(docker, { root: ROOT, variant: opts.variant, nodePath: process.execPath, natsServerPath: nats.path, onProgress: progress.report }).finally(() => progress.stop())
    const seconds = ((performance.now() - started) / 1000).toFixed(1)
    process.stderr.write(`${built.reused ? 'reused' : 'built'} ${built.tag} (${built.id.slice(0, 19)}, ${mib(built.sizeBytes)} MiB) in ${seconds} s\n`)
    if (opts.save) {
      if (!process.stderr.isTTY) process.stderr.write(`saving it to ${relative(process.cwd(), output) || output}\n`)
      const bar = progressBar('saving', built.sizeBytes)
      const bytes = await saveImage(docker, built.tag, output, (n) => bar.update(Math.min(n, built.sizeBytes))).finally(() => bar.stop())
      process.stderr.write(`saved ${output} (${mib(bytes)} MiB): docker load -i FILE, kind load image-archive FILE, ctr images import FILE\n`)
    }
    say(built.tag)
  })
}

function mib(bytes: number): string {
  return (bytes / 1024 / 1024).toFixed(0)
}
