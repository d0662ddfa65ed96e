/** Container images built without a registry: a rootfs tarball streamed into `docker import`. */
export { type TarEntry, tarStream } from './tar.ts'
export { sharedLibraries } from './libraries.ts'
export { contentHash } from './hash.ts'
export { findImageByLabel, importRootfs, tarSize, type ImportRootfsOptions, type RootfsImageProgress } from './import.ts'
