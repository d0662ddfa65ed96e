import { omniError } from '../errors/mod.ts'

/** slim: no embedded ClickHouse (a server by URL, or none); full: with chdb, for a single node. */
export const IMAGE_VARIANTS = ['slim', 'full'] as const
export type ImageVariant = (typeof IMAGE_VARIANTS)[number]

/** What each variant leaves out of the app's production packages. */
export const VARIANT_EXCLUDES: Readonly<Record<ImageVariant, readonly string[]>> = {
  // chdb brings a ~550 MB ClickHouse engine; Kubernetes runs a ClickHouse server instead
  slim: ['chdb'],
  full: [],
}

/** The variant named by `text`, or OMNI_ERR_CONFIG naming `where` and the allowed values. */
export function parseVariant(text: string, where = '--variant'): ImageVariant {
  if ((IMAGE_VARIANTS as readonly string[]).includes(text)) return text as ImageVariant
  throw omniError('OMNI_ERR_CONFIG', `${where} must be one of ${IMAGE_VARIANTS.join(', ')} (got ${JSON.stringify(text)})`)
}
