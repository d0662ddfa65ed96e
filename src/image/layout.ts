/** Where things live inside the platform image, and how it runs. */

/** uid and gid the platform runs as: not root, and no account of a typical host */
export const IMAGE_UID = 65532
export const IMAGE_NAME = 'omni-fabric'
/** Label holding a hash of everything put into the image, to find a build to reuse. */
export const IMAGE_CONTENT_LABEL = 'omni.fabric.image-content'
export const IMAGE_VARIANT_LABEL = 'omni.fabric.image-variant'

export const NODE_IN_IMAGE = '/opt/omni/node'
export const NATS_IN_IMAGE = '/opt/omni/bin/nats-server'
export const APP_IN_IMAGE = '/opt/omni/app'
/** the only folders the platform writes to: its data folder and temporary files */
export const DATA_IN_IMAGE = '/data'
export const TMP_IN_IMAGE = '/tmp'
export const API_PORT_IN_IMAGE = 8080

/** The flags `make up` and ./omni start the CLI with (NODE_FLAGS in the Makefile). */
export const NODE_FLAGS = ['--no-warnings=ExperimentalWarning', '--stack-trace-limit=20'] as const

/** The entrypoint: the omni CLI on the image's Node, with its type stripping. */
export const ENTRYPOINT = [NODE_IN_IMAGE, ...NODE_FLAGS, `${APP_IN_IMAGE}/cmd/omni.ts`] as const

/**
 * Defaults through the variables the CLI already reads. The working folder is `/`, so the CLI's
 * own default `--data data` is /data; the API listens on every interface of the container.
 */
export const IMAGE_ENV: Readonly<Record<string, string>> = {
  OMNI_NATS_SERVER: NATS_IN_IMAGE,
  OMNI_MANIFESTS: `${APP_IN_IMAGE}/manifests`,
  OMNI_API_HOST: '0.0.0.0',
  HOME: TMP_IN_IMAGE,
  PATH: '/opt/omni/bin:/usr/bin:/bin',
}

/** `docker import --change` instructions for an image with this content hash and variant. */
export function imageChanges(content: string, variant: string): string[] {
  return [
    `LABEL ${IMAGE_CONTENT_LABEL}=${content}`,
    `LABEL ${IMAGE_VARIANT_LABEL}=${variant}`,
    `USER ${IMAGE_UID}:${IMAGE_UID}`,
    'WORKDIR /',
    ...Object.entries(IMAGE_ENV).map(([k, v]) => `ENV ${k}=${v}`),
    `EXPOSE ${API_PORT_IN_IMAGE}/tcp`,
    // an anonymous volume when none is mounted, so `docker run --read-only` alone works
    `VOLUME ${DATA_IN_IMAGE}`,
    `ENTRYPOINT ${JSON.stringify(ENTRYPOINT)}`,
    'CMD ["up"]',
  ]
}
