/** The platform's own container image: built from a rootfs assembled here, saved as an archive. */
export { buildPlatformImage, platformImageTag, type BuildPlatformImageOptions, type PlatformImage } from './build.ts'
export { saveImage } from './save.ts'
export { IMAGE_VARIANTS, parseVariant, type ImageVariant } from './variant.ts'
export {
  API_PORT_IN_IMAGE,
  APP_IN_IMAGE,
  DATA_IN_IMAGE,
  ENTRYPOINT,
  IMAGE_CONTENT_LABEL,
  IMAGE_ENV,
  IMAGE_NAME,
  IMAGE_UID,
  IMAGE_VARIANT_LABEL,
  NATS_IN_IMAGE,
  NODE_IN_IMAGE,
  TMP_IN_IMAGE,
} from './layout.ts'
