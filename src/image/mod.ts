/** The platform's own container image: built from a rootfs assembled here, saved as an archive. */
export { buildPlatformImage, platformImageTag, type BuildPlatformImageOptions, type PlatformImage } from './build.ts'
export { saveImage } from './save.ts'
export { IMAGE_VARIANTS, parseVariant, type ImageVariant } from './variant.ts'
export * from './layout.ts'
