import { join } from 'node:path'
import t from 'tap'
import { omni } from '../../../fixtures/cli.ts'
import { testDocker } from '../../../fixtures/docker.ts'
import { tempDir } from '../../../fixtures/plugins.ts'

// `omni plugin image build` through the real CLI: against the engine scripts/test.sh starts, and
// against a socket where no engine listens.
t.setTimeout(180_000)

t.test('an unreachable engine is named with the flag that fixes it', async (t) => {
  const socket = join(await tempDir(t, 'no-engine'), 'docker.sock')
  const r = await omni(['plugin', 'image', 'build', '--docker-socket', socket])
  t.equal(r.code, 1)
  t.match(r.stderr, `OMNI_ERR_SANDBOX_UNAVAILABLE: the Docker engine at ${socket} is not reachable`)
  t.match(r.stderr, /point --docker-socket \/ \$OMNI_DOCKER_SOCKET at its socket/)
  t.equal(r.stdout, '')
})

const env = await testDocker(t)
if (env) {
  t.test('builds or reuses the runner image and prints its reference by digest alone on stdout', async (t) => {
    // the socket from the environment variable, as `omni up` would take it
    const r = await omni(['plugin', 'image', 'build'], { env: { OMNI_DOCKER_SOCKET: env.socketPath }, timeoutMs: 150_000 })
    t.equal(r.code, 0, r.stderr)
    t.equal(r.stdout, `${env.image.ref}\n`, 'the same content gives the same image')
    t.match(r.stdout, /^omni-plugin-node@sha256:[0-9a-f]{64}\n$/)
    t.match(r.stderr, /reused sha256:[0-9a-f]{64}\nsign a container plugin with it: omni plugin sign <dir> --key <file> --image omni-plugin-node@sha256:/)
  })
}
