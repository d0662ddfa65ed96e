import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { APP_IN_IMAGE } from '../../src/image/layout.ts'
import { recipeEntries } from '../../src/image/recipe.ts'

// What the platform image's root filesystem holds, listed without a Docker engine (the recipe is
// the list the image is imported from): no private key, nothing of the build machine (.git,
// .tools, the test suite, an npmrc), and only /data and /tmp writable by the platform's user.

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const NATS = process.env.OMNI_NATS_SERVER ?? ''
const why = existsSync(NATS) ? undefined : '$OMNI_NATS_SERVER names no nats-server binary (make setup puts one in .tools/nats)'
if (why) t.comment(`skipped: ${why}`)

t.test('the slim image holds no private key and nothing of the build machine', { skip: why }, async (t) => {
  const entries = await recipeEntries({ root: ROOT, variant: 'slim', nodePath: process.execPath, natsServerPath: NATS })
  const paths = entries.map((e) => `/${e.path}`)
  t.ok(paths.includes(`${APP_IN_IMAGE}/cmd/omni.ts`), 'the CLI is in (the listing is the real one)')
  t.ok(paths.includes(`${APP_IN_IMAGE}/manifests/plugins/test-trust/roots/test-root.pub`), 'a public key is in (the control for the next check)')
  const app = paths.filter((p) => p.startsWith(`${APP_IN_IMAGE}/`) && !p.startsWith(`${APP_IN_IMAGE}/node_modules/`))
  t.same(app.filter((p) => /\.(key|pem)$|id_(rsa|ed25519)|\/test-keys(\/|$)/.test(p)), [], 'no private key of the app (the repository\'s TEST signing keys sign plugins any node trusting test-trust runs)')
  t.same(paths.filter((p) => /(^|\/)(\.git|\.tools|\.npmrc|\.env)(\/|$)/.test(p)), [], 'no .git, .tools, .npmrc or .env')
  t.same(app.filter((p) => p.startsWith(`${APP_IN_IMAGE}/test/`)), [], 'not the test suite')
  const writable = entries.filter((e) => (e.type === 'dir' && 'owner' in e && e.owner !== undefined) || (e.mode & 0o002 && !(e.mode & 0o1000)))
  t.same(writable.map((e) => `/${e.path}`), ['/data'], 'only /data belongs to the platform\'s user; /tmp is sticky and nothing else is world-writable')
})
